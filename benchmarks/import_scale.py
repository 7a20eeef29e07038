"""Import benchmark at Red List scale: 150,000 assessments, ~10 million child rows.

Replicates a real Red List download (default ``../shared/data/redlist-download/pacific-marine``)
with fresh assessment and taxon ids until it holds ``--assessments`` assessments, writes the
replicated CSV files to a temporary folder, then measures, each phase in its own child process:

  polars      bare ``polars.read_csv`` of every file, all columns as text (the baseline)
  read        reading the files into an ``AssessmentSet``
  import-*    ``store.import_set`` of that set into a fresh SQLite file / PostgreSQL database (one
              transaction), then ``store.index_text`` (the full-text index, built after the
              commit in batches; its seconds are in the note, not in the import's)
  load-*      ``store.load_set`` of everything back

and prints seconds, rows/s, peak memory (the child's max RSS) and the ratio to the baseline.
Exits non-zero when an import misses the targets (<= 60 s, <= 4 GB), unless ``--no-check``.

    .venv/bin/python benchmarks/import_scale.py                       # SQLite, 150k assessments
    .venv/bin/python benchmarks/import_scale.py --postgres-url postgres://a2p:a2p@127.0.0.1:5432/a2p
    .venv/bin/python benchmarks/import_scale.py --quick               # smoke run (3,000 assessments)
    .venv/bin/python benchmarks/import_scale.py --phases read         # only the reader
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "redlist-download" / "pacific-marine"
TARGET_SECONDS = 60.0
TARGET_BYTES = 4 * 1024**3
#: --phases names: the phases run in this order; import and load need the read phase's snapshot
PHASES = ("polars", "read", "import", "load")
ID_STEP = 10_000_000_000  # fresh ids: original id + copy * ID_STEP (stay numeric text)


# ---------------------------------------------------------------------------------------------
# replication
# ---------------------------------------------------------------------------------------------
def replicate(src: Path, dst: Path, assessments: int) -> dict[str, int]:
    """Write copies of every CSV of ``src`` to ``dst`` until ``assessments`` assessments; rows per file."""
    import polars as pl

    base = pl.read_csv(src / "assessments.csv", infer_schema=False)
    n0 = base.height
    copies = -(-assessments // n0)
    out: dict[str, int] = {}
    dst.mkdir(parents=True, exist_ok=True)
    for path in sorted(src.glob("*.csv")):
        df = pl.read_csv(path, infer_schema=False)
        ids = [c for c in ("assessmentId", "internalTaxonId") if c in df.columns]
        rows = 0
        with open(dst / path.name, "wb") as fh:
            for k in range(copies):
                part = df
                if path.name == "assessments.csv" and k == copies - 1:
                    part = df.head(assessments - k * n0)
                elif "assessmentId" in df.columns and k == copies - 1:
                    keep = base.head(assessments - k * n0)["assessmentId"].implode()
                    part = df.filter(pl.col("assessmentId").is_in(keep))
                elif "assessmentId" not in df.columns and k == copies - 1:
                    keep = base.head(assessments - k * n0)["internalTaxonId"].implode()
                    part = df.filter(pl.col("internalTaxonId").is_in(keep))
                if k:
                    part = part.with_columns(
                        [(pl.col(c).cast(pl.Int64) + k * ID_STEP).cast(pl.Utf8).alias(c) for c in ids]
                    )
                part.write_csv(fh, include_header=(k == 0))
                rows += part.height
        out[path.name] = rows
    return out


# ---------------------------------------------------------------------------------------------
# a minimal download reader, used only while assess2plan.io.download does not exist
# ---------------------------------------------------------------------------------------------
def _minimal_read(folder: Path):
    import hashlib

    import polars as pl

    from assess2plan.model import AssessmentSet, Source

    def csv(name: str) -> pl.DataFrame | None:
        p = folder / name
        return pl.read_csv(p, infer_schema=False) if p.exists() else None

    labels = {
        "Extinct": "EX",
        "Extinct in the Wild": "EW",
        "Critically Endangered": "CR",
        "Endangered": "EN",
        "Vulnerable": "VU",
        "Near Threatened": "NT",
        "Least Concern": "LC",
        "Data Deficient": "DD",
        "Lower Risk/near threatened": "LR/nt",
        "Lower Risk/least concern": "LR/lc",
        "Lower Risk/conservation dependent": "LR/cd",
    }
    frames: dict[str, pl.DataFrame] = {}
    a = csv("assessments.csv")
    if a is not None:
        a = a.rename(
            {
                "assessmentId": "assessment_id",
                "internalTaxonId": "taxon_id",
                "scientificName": "scientific_name",
                "redlistCategory": "category_label",
                "redlistCriteria": "criteria",
                "yearPublished": "year_published",
                "assessmentDate": "assessment_date",
                "criteriaVersion": "criteria_version",
                "habitat": "habitat_text",
                "threats": "threats_text",
                "population": "population_text",
                "populationTrend": "population_trend",
                "range": "range_text",
                "useTrade": "use_trade_text",
                "conservationActions": "conservation_actions_text",
                "realm": "realms",
                "yearLastSeen": "year_last_seen",
                "possiblyExtinct": "possibly_extinct",
                "possiblyExtinctInTheWild": "possibly_extinct_in_the_wild",
            },
            strict=False,
        ).with_columns(
            pl.col("category_label").replace_strict(labels, default=None).alias("category"),
            pl.col("assessment_date").str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False),
            pl.col("possibly_extinct").str.to_lowercase() == "true",
            pl.col("possibly_extinct_in_the_wild").str.to_lowercase() == "true",
        )
        frames["assessments"] = a
    t = csv("taxonomy.csv")
    if t is not None:
        frames["taxa"] = t.rename(
            {
                "internalTaxonId": "taxon_id",
                "scientificName": "scientific_name",
                "kingdomName": "kingdom",
                "phylumName": "phylum",
                "className": "class_name",
                "orderName": "order_name",
                "familyName": "family",
                "genusName": "genus",
                "speciesName": "species",
                "infraType": "infra_type",
                "infraName": "infra_name",
                "infraAuthority": "infra_authority",
                "subpopulationName": "subpopulation",
                "taxonomicNotes": "taxonomic_notes",
            },
            strict=False,
        )
    ids = {"assessmentId": "assessment_id", "internalTaxonId": "taxon_id"}
    th = csv("threats.csv")
    if th is not None:
        frames["threats"] = th.rename(
            {
                **ids,
                "stressCode": "stress_codes",
                "stressName": "stress_names",
                "internationalTrade": "international_trade",
            },
            strict=False,
        )
    cn = csv("conservation_needed.csv")
    if cn is not None:
        frames["actions_needed"] = cn.rename(ids, strict=False)
    h = csv("habitats.csv")
    if h is not None:
        frames["habitats"] = h.rename({**ids, "majorImportance": "major_importance"}, strict=False)
    occ = []
    for name, kind in (("countries.csv", "country"), ("lme.csv", "lme"), ("fao.csv", "fao")):
        o = csv(name)
        if o is not None:
            occ.append(
                o.rename({**ids, "formerlyBred": "formerly_bred"}, strict=False)
                .with_columns(pl.lit(kind).alias("kind"))
                .select(
                    "assessment_id",
                    "taxon_id",
                    "kind",
                    "code",
                    "name",
                    "presence",
                    "origin",
                    "seasonality",
                    "formerly_bred",
                )
            )
    if occ:
        frames["occurrence"] = pl.concat(occ, how="vertical")
    sources = []
    for p in sorted(folder.glob("*.csv")):
        digest = hashlib.sha256()
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        sources.append(Source(str(p), "redlist-download", digest.hexdigest(), 0))
    return AssessmentSet.from_frames(frames, sources=sources)


def read_set(folder: Path):
    """The real reader when it exists, else the minimal one above. Returns (set, reader name)."""
    if os.environ.get("A2P_BENCH_READER") != "minimal":
        try:
            from assess2plan.io.download import read_download  # noqa: F401
        except ImportError:
            pass
        else:
            from assess2plan import read_redlist

            return read_redlist(folder, format="redlist-download"), "assess2plan.read_redlist"
    return _minimal_read(folder), "benchmark's minimal reader"


# ---------------------------------------------------------------------------------------------
# phases (each runs in a child process: python import_scale.py --phase NAME ...)
# ---------------------------------------------------------------------------------------------
def _set_rows(aset) -> int:
    return sum(df.height for df in aset.tables.values())


def _save_snapshot(aset, where: Path) -> None:
    where.mkdir(exist_ok=True)
    for t, df in aset.tables.items():
        df.write_parquet(where / f"{t}.parquet")
    (where / "sources.json").write_text(json.dumps([s.__dict__ for s in aset.sources]))


def _load_snapshot(where: Path):
    import polars as pl

    from assess2plan.model import TABLES, AssessmentSet, Source

    sources = [Source(**s) for s in json.loads((where / "sources.json").read_text())]
    return AssessmentSet(tables={t: pl.read_parquet(where / f"{t}.parquet") for t in TABLES}, sources=sources)


def _peak_rss() -> int:
    """This process's peak RSS so far, in bytes (Linux reports KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_phase(name: str, folder: Path, url: str | None, snapshot: bool = True) -> dict:
    import polars as pl

    if name == "polars":
        t0 = time.perf_counter()
        rows = sum(pl.read_csv(p, infer_schema=False).height for p in sorted(folder.glob("*.csv")))
        return {"seconds": time.perf_counter() - t0, "rows": rows}
    if name == "read":
        t0 = time.perf_counter()
        aset, reader = read_set(folder)
        seconds = time.perf_counter() - t0
        peak = _peak_rss()  # the reader's own peak, before the snapshot is written
        if snapshot:
            _save_snapshot(aset, folder.parent / "snapshot")
        size = sum(df.estimated_size() for df in aset.tables.values())
        return {
            "seconds": seconds,
            "rows": _set_rows(aset),
            "note": f"{reader}; set {size / 1024**3:.2f} GB",
            "peak_bytes": peak,
        }

    from assess2plan import store

    store.setup(url)
    if name == "import":
        # The set as the read phase made it (parquet snapshot, not timed), so that the peak RSS
        # measured here is the import's own (with the set in memory), not the reader's.
        aset = _load_snapshot(folder.parent / "snapshot")
        store.migrate()
        t0 = time.perf_counter()
        result = store.import_set(aset, project="bench", index_text=False)
        seconds = time.perf_counter() - t0
        # the full-text index is built after the import's commit (store.index_text): timed apart
        t1 = time.perf_counter()
        indexed = store.index_text("bench")
        text_seconds = time.perf_counter() - t1
        stored = store.counts("bench")
        expected = {t: df.height for t, df in aset.tables.items()}
        bad = {t: (stored[t], n) for t, n in expected.items() if stored[t] != n}
        if indexed != expected["assessments"]:
            bad["text index"] = (indexed, expected["assessments"])
        return {
            "seconds": seconds,
            "rows": _set_rows(aset),
            "note": ("OK" if not bad else f"MISMATCH {bad}")
            + f"; then full-text index of {indexed:,} assessments: {text_seconds:.1f} s",
            "added": result.added,
            "text_seconds": text_seconds,
        }
    if name == "load":
        t0 = time.perf_counter()
        aset = store.load_set("bench")
        return {"seconds": time.perf_counter() - t0, "rows": _set_rows(aset)}
    raise SystemExit(f"unknown phase {name}")


def child(name: str, folder: Path, url: str | None, env: dict[str, str], snapshot: bool = True) -> dict:
    """Run one phase in a fresh interpreter; adds its peak RSS (bytes) from wait4 (the read phase
    reports its own, measured before it writes the snapshot for the import phases)."""
    out = Path(tempfile.mkstemp(suffix=".json")[1])
    cmd = [sys.executable, __file__, "--phase", name, "--folder", str(folder), "--result", str(out)]
    if url:
        cmd += ["--phase-url", url]
    if not snapshot:
        cmd += ["--no-snapshot"]
    proc = subprocess.Popen(cmd, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    try:
        res = json.loads(out.read_text() or "{}")
    finally:
        out.unlink(missing_ok=True)
    if proc.returncode != 0 or not res:
        res = {"seconds": float("nan"), "rows": 0, "note": f"FAILED (exit {proc.returncode})"}
    res.setdefault("peak_bytes", usage.ru_maxrss * 1024)  # Linux: KiB
    res["ok"] = proc.returncode == 0
    return res


def _pg_admin(url: str, sql: str) -> None:
    import psycopg

    from assess2plan.web.settings import parse_database_url

    s = parse_database_url(url)
    with psycopg.connect(
        dbname=s["NAME"],
        user=s["USER"],
        password=s["PASSWORD"],
        host=s["HOST"],
        port=s["PORT"] or None,
        autocommit=True,
    ) as conn:
        conn.execute(sql)


def _pg_temp_database(url: str) -> tuple[str, str | None]:
    """A fresh database on the server of ``url`` (dropped afterwards), or ``url`` itself."""
    from urllib.parse import urlsplit, urlunsplit

    name = "a2p_bench_" + uuid.uuid4().hex[:8]
    try:
        _pg_admin(url, f'CREATE DATABASE "{name}"')
    except Exception as exc:  # noqa: BLE001 - no CREATEDB right: use the given database
        print(
            f"note: cannot create a scratch database ({exc}); importing into the given one", file=sys.stderr
        )
        return url, None
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name)), name


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA, help="a Red List download folder")
    ap.add_argument("--assessments", type=int, default=150_000, help="assessments to replicate to")
    ap.add_argument("--quick", action="store_true", help="smoke run with 3,000 assessments")
    ap.add_argument("--postgres-url", default=os.environ.get("A2P_TEST_POSTGRES_URL"))
    ap.add_argument("--no-check", action="store_true", help="only report; never fail on the targets")
    ap.add_argument(
        "--minimal-reader",
        action="store_true",
        help="read with the benchmark's own minimal CSV reader instead of assess2plan.read_redlist",
    )
    ap.add_argument("--workdir", type=Path, help="where to write the replicated files (default: a temp dir)")
    ap.add_argument(
        "--phases",
        default=",".join(PHASES),
        help="comma-separated phases to run, of: polars (baseline), read, import, load "
        "(default: all; import and load run the read phase too, for its snapshot)",
    )
    ap.add_argument("--phase", help=argparse.SUPPRESS)
    ap.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--phase-url", help=argparse.SUPPRESS)
    ap.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--no-snapshot", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.phase:
        res = run_phase(args.phase, args.folder, args.phase_url, snapshot=not args.no_snapshot)
        args.result.write_text(json.dumps(res, default=str))
        return 0

    n = 3000 if args.quick else args.assessments
    wanted = {p.strip() for p in args.phases.split(",") if p.strip()}
    unknown = wanted - set(PHASES)
    if unknown or not wanted:
        ap.error(f"--phases: unknown {', '.join(sorted(unknown)) or '(none given)'}; use {', '.join(PHASES)}")
    if wanted & {"import", "load"}:
        wanted.add("read")  # the import phases start from the read phase's snapshot
    if "load" in wanted:
        wanted.add("import")  # load reads back what import wrote
    if not (args.data / "assessments.csv").exists():
        print(f"no Red List download at {args.data}", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="a2p-bench-", dir=args.workdir))
    pg_db = None
    try:
        folder = work / "download"
        t0 = time.perf_counter()
        files = replicate(args.data, folder, n)
        size = sum(p.stat().st_size for p in folder.glob("*.csv"))
        print(
            f"replicated {args.data.name} to {files['assessments.csv']:,} assessments, "
            f"{sum(files.values()):,} CSV rows, {size / 1e9:.2f} GB in {time.perf_counter() - t0:.1f} s "
            f"({os.cpu_count()} CPUs)",
            flush=True,
        )
        env = {**os.environ, "A2P_HOME": str(work / "home"), "PYTHONPATH": str(ROOT / "src")}
        env.pop("A2P_DATABASE_URL", None)
        if args.minimal_reader:
            env["A2P_BENCH_READER"] = "minimal"
        phases: list[tuple[str, str, str | None]] = [
            ("polars read_csv (baseline)", "polars", None),
            ("read -> AssessmentSet", "read", None),
        ]
        sqlite_url = f"sqlite:///{work / 'bench.sqlite3'}"
        phases += [("import_set -> SQLite", "import", sqlite_url), ("load_set <- SQLite", "load", sqlite_url)]
        if args.postgres_url and "import" in wanted:
            pg_url, pg_db = _pg_temp_database(args.postgres_url)
            phases += [
                ("import_set -> PostgreSQL", "import", pg_url),
                ("load_set <- PostgreSQL", "load", pg_url),
            ]
        phases = [p for p in phases if p[1] in wanted]
        results = []
        for label, phase, url in phases:
            print(f"... {label}", flush=True)
            results.append((label, phase, child(phase, folder, url, env, snapshot="import" in wanted)))
    finally:
        if pg_db:
            try:
                _pg_admin(args.postgres_url, f'DROP DATABASE IF EXISTS "{pg_db}"')
            except Exception as exc:  # noqa: BLE001
                print(f"note: could not drop scratch database {pg_db}: {exc}", file=sys.stderr)
        shutil.rmtree(work, ignore_errors=True)

    base = next((r["seconds"] for _, phase, r in results if phase == "polars"), None)
    print()
    print(f"{'phase':<28} {'seconds':>8} {'rows':>12} {'rows/s':>11} {'peak RSS':>9} {'x polars':>9}  note")
    print("-" * 100)
    failed = []
    for label, phase, r in results:
        s = r["seconds"]
        rate = r["rows"] / s if s and s == s else 0
        ratio = f"{s / base:8.1f}x" if base else f"{'-':>9}"
        print(
            f"{label:<28} {s:8.2f} {r['rows']:12,} {rate:11,.0f} {r['peak_bytes'] / 1024**3:7.2f} GB "
            f"{ratio}  {r.get('note', '')}"
        )
        if not r["ok"] or "MISMATCH" in str(r.get("note", "")):
            failed.append(f"{label}: {r.get('note')}")
        elif phase == "import" and (s > TARGET_SECONDS or r["peak_bytes"] > TARGET_BYTES):
            failed.append(f"{label}: {s:.1f} s, {r['peak_bytes'] / 1024**3:.2f} GB (target <= 60 s, <= 4 GB)")
    print()
    print(f"load average at the end: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    print(
        "peak RSS is the whole child process (interpreter + polars + the set being imported); "
        "import phases include the set in memory"
    )
    if failed:
        print("TARGETS MISSED:\n  " + "\n  ".join(failed))
        return 0 if args.no_check else 1
    if "import" in wanted:
        print(f"targets met (import <= {TARGET_SECONDS:.0f} s and <= 4 GB)")
    else:
        print("no import phase run: the targets were not checked")
    return 0


if __name__ == "__main__":
    sys.exit(main())
