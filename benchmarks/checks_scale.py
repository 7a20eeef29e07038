"""Consistency-check benchmark at Red List scale: ``run_checks`` over 150,000 assessments.

Builds a set of ``--assessments`` assessments by replicating a real Red List download (default
``../shared/data/redlist-download/pacific-marine``, 358 assessments) with fresh assessment and
taxon ids, then measures, each phase in its own child process that loads the set from a parquet
snapshot first (not timed):

  baseline    bare polars over the same tables: latest assessment per taxon, threats, actions
              needed and occurrence restricted to them, a group-by per assessment, one anti-join
  run_checks  ``assess2plan.checks.run_checks`` with every default rule (list of Finding objects)
  check_frame the same findings as a polars frame (no Python objects)
  per rule    ``run_checks(rules=[id])`` for every registered rule, each with a fresh context

and prints wall seconds, CPU seconds, findings, assessments/s, peak RSS and the ratio to the
baseline. Exits non-zero when ``run_checks`` over all default rules takes more than 10 s,
unless ``--no-check``.

    .venv/bin/python benchmarks/checks_scale.py                  # 150,000 assessments
    .venv/bin/python benchmarks/checks_scale.py --quick          # smoke run (3,000 assessments)
    .venv/bin/python benchmarks/checks_scale.py --via-files      # replicate CSV files (import_scale.py)
    .venv/bin/python benchmarks/checks_scale.py --drop-threats 0.3  # species differ in their threats
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "redlist-download" / "pacific-marine"
TARGET_SECONDS = 10.0
ID_STEP = 10_000_000_000  # fresh ids: original id + copy * ID_STEP (numeric text), as import_scale.py
TODAY = dt.date(2025, 6, 1)


# ---------------------------------------------------------------------------------------------
# building the set
# ---------------------------------------------------------------------------------------------
def replicate_set(aset: Any, assessments: int) -> Any:
    """``aset`` copied over and over (tables concatenated, fresh ids) until it holds ``assessments``
    assessments; the last copy holds the first assessments only (and their taxa and child rows)."""
    import polars as pl

    from assess2plan.model import TABLES, AssessmentSet

    a = aset.tables["assessments"]
    n0 = a.height
    copies = -(-assessments // n0)
    last = a.head(assessments - (copies - 1) * n0)
    last_a = last.get_column("assessment_id").implode()
    last_t = last.get_column("taxon_id").implode()

    def fresh(col: str, k: int) -> pl.Expr:
        c = pl.col(col)
        numeric = c.cast(pl.Int64, strict=False)
        return pl.when(numeric.is_not_null()).then((numeric + k * ID_STEP).cast(pl.Utf8)).otherwise(
            pl.format("{}-{}", c, pl.lit(k))
        ).alias(col)

    tables = {}
    for name in TABLES:
        df = aset.tables[name]
        ids = [c for c in ("assessment_id", "taxon_id") if c in df.columns]
        parts = []
        for k in range(copies):
            part = df
            if k == copies - 1:
                key, keep = ("assessment_id", last_a) if "assessment_id" in df.columns else ("taxon_id", last_t)
                part = part.filter(pl.col(key).is_in(keep))
            if k:
                part = part.with_columns(fresh(c, k) for c in ids)
            parts.append(part)
        tables[name] = pl.concat(parts, how="vertical").rechunk()
    return AssessmentSet(tables=tables, sources=list(aset.sources))


def drop_threats(aset: Any, share: float) -> Any:
    """``aset`` without about ``share`` of its threat rows, chosen by a hash of assessment id and
    code: the copies of a species then record different threat sets (a plain replication gives
    150,000 species only the few dozen distinct threat lists of the original download)."""
    import polars as pl

    from assess2plan.model import AssessmentSet

    t = aset.tables["threats"]
    keep = (pl.concat_str(pl.col("assessment_id"), pl.col("code").fill_null("")).hash(7) % 1000) >= int(share * 1000)
    return AssessmentSet(tables={**aset.tables, "threats": t.filter(keep)}, sources=list(aset.sources))


def build_set(data: Path, assessments: int, via_files: bool, workdir: Path) -> tuple[Any, str]:
    """The replicated set and how it was made."""
    if via_files:
        # import_scale.py's replicate() writes the CSV files, its read_set() reads them back
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from import_scale import read_set, replicate  # type: ignore[import-not-found]

        folder = workdir / "download"
        replicate(data, folder, assessments)
        aset, reader = read_set(folder)
        return aset, f"CSV files replicated by import_scale.replicate, read by {reader}"
    from assess2plan import read_redlist

    return replicate_set(read_redlist(data), assessments), "read_redlist + in-memory replication"


def _save(aset: Any, where: Path) -> None:
    where.mkdir(parents=True, exist_ok=True)
    for t, df in aset.tables.items():
        df.write_parquet(where / f"{t}.parquet")


def _load(where: Path) -> Any:
    import polars as pl

    from assess2plan.model import TABLES, AssessmentSet

    return AssessmentSet(tables={t: pl.read_parquet(where / f"{t}.parquet") for t in TABLES})


# ---------------------------------------------------------------------------------------------
# phases (each runs in a child process: python checks_scale.py --phase NAME ...)
# ---------------------------------------------------------------------------------------------
def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _timed(fn: Any) -> tuple[Any, float, float]:
    c0, t0 = _cpu(), time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0, _cpu() - c0


def baseline(aset: Any) -> int:
    """Bare polars over the tables the checks read most, written as a careful polars user would
    (narrow columns, one pass each): the latest assessment per taxon; threats, actions needed and
    occurrence restricted to it; threats per assessment, species per place, threatened species
    without an action. A floor for any whole-set checker, not a check."""
    import polars as pl

    a = aset.tables["assessments"]
    latest = (
        a.select("assessment_id", "taxon_id", "category", "year_published", "assessment_date")
        .sort(["year_published", "assessment_date", "assessment_id"], descending=True, nulls_last=True)
        .unique(subset="taxon_id", keep="first")
    )
    ids = latest.select("assessment_id")
    threats = aset.tables["threats"].select("assessment_id", "code", "impact").join(ids, on="assessment_id", how="semi")
    actions = aset.tables["actions_needed"].select("assessment_id", "code").join(ids, on="assessment_id", how="semi")
    occurrence = aset.tables["occurrence"].select("assessment_id", "kind", "code").join(ids, on="assessment_id", how="semi")
    per = threats.group_by("assessment_id").agg(
        pl.len().alias("threats"), pl.col("impact").is_in(["High Impact", "Medium Impact"]).sum().alias("major")
    )
    places = occurrence.group_by("kind", "code").agg(pl.len().alias("species"))
    no_action = latest.filter(pl.col("category").is_in(["CR", "EN", "VU"])).join(actions, on="assessment_id", how="anti")
    return per.height + places.height + no_action.height


def run_phase(name: str, snapshot: Path) -> dict:
    from assess2plan.checks import RULES, check_frame, run_checks

    (aset, load_s, _) = _timed(lambda: _load(snapshot))
    n = aset.tables["assessments"].height
    loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    res: dict[str, Any] = {"load_seconds": load_s, "assessments": n, "loaded_bytes": loaded}
    if name == "baseline":
        out, s, c = _timed(lambda: baseline(aset))
        res.update(seconds=s, cpu=c, findings=None, note=f"{out:,} result rows")
    elif name == "run_checks":
        out, s, c = _timed(lambda: run_checks(aset, today=TODAY))
        res.update(seconds=s, cpu=c, findings=len(out))
    elif name == "check_frame":
        out, s, c = _timed(lambda: check_frame(aset, today=TODAY))
        res.update(seconds=s, cpu=c, findings=out.height)
    elif name == "per_rule":
        rows = []
        for rid in RULES:
            out, s, c = _timed(lambda rid=rid: run_checks(aset, rules=[rid], today=TODAY))
            skipped = any(f.taxon_id is None for f in out)
            rows.append({"rule": rid, "seconds": s, "cpu": c, "findings": len(out), "skipped": skipped})
        res.update(rules=rows, seconds=sum(r["seconds"] for r in rows), cpu=sum(r["cpu"] for r in rows))
    else:
        raise SystemExit(f"unknown phase {name}")
    return res


def child(name: str, snapshot: Path) -> dict:
    """Run one phase in a fresh interpreter; adds its peak RSS (bytes) from wait4."""
    out = Path(tempfile.mkstemp(suffix=".json")[1])
    cmd = [sys.executable, __file__, "--phase", name, "--snapshot", str(snapshot), "--result", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen(cmd, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    try:
        res = json.loads(out.read_text() or "{}")
    finally:
        out.unlink(missing_ok=True)
    if code != 0 or not res:
        res = {"seconds": float("nan"), "cpu": float("nan"), "findings": None, "note": f"FAILED (exit {code})"}
    res["peak_bytes"] = usage.ru_maxrss * 1024  # Linux: KiB
    res["ok"] = code == 0
    return res


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA, help="a Red List download folder")
    ap.add_argument("--assessments", type=int, default=150_000, help="assessments to replicate to")
    ap.add_argument("--quick", action="store_true", help="smoke run with 3,000 assessments")
    ap.add_argument("--via-files", action="store_true", help="replicate CSV files with import_scale.py and read them")
    ap.add_argument("--no-per-rule", action="store_true", help="skip the per-rule timings")
    ap.add_argument(
        "--drop-threats",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="drop this share of threat rows at random (e.g. 0.3) so that species differ in their threats",
    )
    ap.add_argument("--no-check", action="store_true", help="only report; never fail on the target")
    ap.add_argument("--workdir", type=Path, help="where to write the snapshot (default: a temp dir)")
    ap.add_argument("--phase", help=argparse.SUPPRESS)
    ap.add_argument("--snapshot", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.phase:
        res = run_phase(args.phase, args.snapshot)
        args.result.write_text(json.dumps(res, default=str))
        return 0

    n = 3000 if args.quick else args.assessments
    if not (args.data / "assessments.csv").exists():
        print(f"no Red List download at {args.data}", file=sys.stderr)
        return 2
    import polars as pl

    work = Path(tempfile.mkdtemp(prefix="a2p-checks-bench-", dir=args.workdir))
    load_before = _loadavg()
    try:
        t0 = time.perf_counter()
        aset, how = build_set(args.data, n, args.via_files, work)
        if args.drop_threats:
            aset = drop_threats(aset, args.drop_threats)
            how += f", {args.drop_threats:.0%} of threat rows dropped at random"
        profiles = aset.tables["threats"].group_by("assessment_id").agg(pl.col("code").sort()).get_column("code").n_unique()
        counts = aset.counts()
        rows = sum(v for k, v in counts.items() if k != "species")
        size = sum(df.estimated_size() for df in aset.tables.values())
        _save(aset, work / "snapshot")
        del aset
        print(
            f"built {counts['assessments']:,} assessments ({rows:,} rows: {counts['threats']:,} threats, "
            f"{counts['actions_needed']:,} actions needed, {counts['habitats']:,} habitats, "
            f"{counts['occurrence']:,} occurrence; {size / 1024**3:.2f} GB in polars; {profiles:,} distinct threat "
            f"lists) from {args.data.name} in {time.perf_counter() - t0:.1f} s [{how}]; {os.cpu_count()} CPUs, "
            f"load average {load_before}",
            flush=True,
        )
        phases = [("polars baseline", "baseline"), ("run_checks (all default rules)", "run_checks")]
        phases.append(("check_frame (all default rules)", "check_frame"))
        if not args.no_per_rule:
            phases.append(("per rule", "per_rule"))
        results = []
        for label, phase in phases:
            print(f"... {label}", flush=True)
            results.append((label, phase, child(phase, work / "snapshot")))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load_after = _loadavg()

    base = results[0][2]["seconds"]
    print()
    head = (
        f"{'phase':<36} {'seconds':>8} {'cpu s':>7} {'findings':>9} {'assess./s':>10} {'peak RSS':>9} "
        f"{'(set)':>8} {'x base':>7}"
    )
    print(head)
    print("-" * len(head))
    failed = []
    for label, phase, r in results:
        if phase == "per_rule":
            continue
        s = r["seconds"]
        rate = n / s if s and s == s else 0
        findings = f"{r['findings']:,}" if r.get("findings") is not None else "-"
        print(
            f"{label:<36} {s:8.2f} {r['cpu']:7.2f} {findings:>9} {rate:10,.0f} "
            f"{r['peak_bytes'] / 1024**3:6.2f} GB {r.get('loaded_bytes', 0) / 1024**3:5.2f} GB {s / base:6.1f}x  "
            f"{r.get('note', '')}"
        )
        if not r["ok"]:
            failed.append(f"{label}: {r.get('note')}")
        elif phase == "run_checks" and s > TARGET_SECONDS:
            failed.append(f"{label}: {s:.1f} s (target <= {TARGET_SECONDS:.0f} s)")
    per_rule = [r for _, phase, r in results if phase == "per_rule"]
    if per_rule and per_rule[0].get("rules"):
        r = per_rule[0]
        print()
        print(f"{'rule (run_checks rules=[id], fresh context each)':<50} {'seconds':>8} {'cpu s':>7} {'findings':>9}")
        print("-" * 77)
        for row in r["rules"]:
            note = "  (skipped: table absent)" if row["skipped"] else ""
            print(f"{row['rule']:<50} {row['seconds']:8.2f} {row['cpu']:7.2f} {row['findings']:9,}{note}")
        print(f"{'sum':<50} {r['seconds']:8.2f} {r['cpu']:7.2f}   (peak RSS {r['peak_bytes'] / 1024**3:.2f} GB)")
    elif per_rule:
        failed.append(f"per rule: {per_rule[0].get('note')}")
    print()
    print(
        f"load average before {load_before}, after {load_after} ({os.cpu_count()} CPUs); "
        "peak RSS is the whole child process (interpreter + polars + the set, loaded from a parquet snapshot "
        f"in {results[1][2].get('load_seconds', float('nan')):.1f} s, not timed); (set) is its RSS once the set "
        "is loaded, before the timed phase; cpu s = user + system CPU of the phase"
    )
    if failed:
        print("TARGET MISSED:\n  " + "\n  ".join(failed))
        return 0 if args.no_check else 1
    print(f"target met (run_checks over all default rules <= {TARGET_SECONDS:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
