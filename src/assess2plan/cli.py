"""The ``a2p`` command line: batch work on Red List working sets.

Every command reads and writes the store (SQLite by default, PostgreSQL with ``--database`` or
``A2P_DATABASE_URL``) through ``assess2plan.store`` and calls the same pure functions as the
Python API and the web app.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from assess2plan.errors import A2PError, InputError

app = typer.Typer(
    name="a2p",
    help="assess2plan: from IUCN Red List assessments to conservation planning.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err = Console(stderr=True)

ProjectOpt = Annotated[str, typer.Option("--project", "-p", help="Project (working set) name.")]
DatabaseOpt = Annotated[
    str | None,
    typer.Option(
        "--database",
        help="Database URL (sqlite:///path or postgres://...); default A2P_DATABASE_URL or SQLite.",
    ),
]

MAX_WARNINGS_SHOWN = 20


def _store(database: str | None):
    from assess2plan import store

    store.setup(database)
    store.migrate()
    return store


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal and not os.environ.get("A2P_FORCE_PROGRESS"),
    )


def _read_with_progress(paths: list[Path], fmt: str | None, bar: Progress):
    from assess2plan.io import read_redlist

    task = bar.add_task("reading", total=None)

    def cb(stage: str, done: int, total: int) -> None:
        bar.update(task, description=f"reading {stage}", completed=done, total=total)

    return read_redlist(*paths, format=fmt, progress=cb)


def _print_issues(issues: list, limit: int = MAX_WARNINGS_SHOWN) -> None:
    if not issues:
        return
    err.print(f"[yellow]{len(issues)} warning(s):[/yellow]")
    for issue in issues[:limit]:
        err.print("  [yellow]![/yellow] " + _escape(str(issue)), highlight=False)
    if len(issues) > limit:
        err.print(f"  ... and {len(issues) - limit} more (use --warnings FILE to save them all)")


@app.command("import")
def import_(
    paths: Annotated[
        list[Path], typer.Argument(help="Download zips/folders, SIS Connect folders, API v4 JSON files.")
    ],
    project: ProjectOpt = "default",
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="redlist-download | sis-connect | api-v4 (default: detect)."),
    ] = None,
    user: Annotated[
        str | None, typer.Option("--user", help="Who imports (recorded with the dataset).")
    ] = None,
    warnings: Annotated[
        Path | None, typer.Option("--warnings", help="Write every warning to this file.")
    ] = None,
    sensitive: Annotated[
        Path | None,
        typer.Option(
            "--sensitive",
            help="A file listing taxa (taxon id, assessment id or full name, one per line) whose precise "
            "locations only allowed users may see.",
        ),
    ] = None,
    sensitive_reason: Annotated[
        str, typer.Option("--sensitive-reason", help="Why those taxa are sensitive (recorded).")
    ] = "flagged sensitive on import",
    database: DatabaseOpt = None,
) -> None:
    """Import Red List data into a project: one transaction, nothing written on error."""
    from assess2plan.species import read_taxa_list, taxa_in_set

    store = _store(database)
    sensitive_list = read_taxa_list(sensitive) if sensitive else []
    with _progress() as bar:
        aset = _read_with_progress(paths, fmt, bar)
        # every listed taxon must be in the data: checked before anything is written
        sensitive_ids = taxa_in_set(aset, sensitive_list, source=str(sensitive)) if sensitive else []
        task = bar.add_task("storing", total=None)

        def cb(stage: str, done: int, total: int) -> None:
            label = stage if stage.startswith("indexing") else f"storing {stage}"
            bar.update(task, description=label, completed=done, total=total)

        result = store.import_set(aset, project=project, user=user or _whoami(), progress=cb)
    counts = aset.counts()
    table = Table(
        title=f"Imported into project {project!r}"
        + (" (already there: nothing changed)" if result.unchanged else "")
    )
    table.add_column("table")
    table.add_column("read", justify="right")
    table.add_column("added", justify="right")
    for name, n in counts.items():
        table.add_row(name, str(n), str(result.added.get(name, "")))
    console.print(table)
    if sensitive_ids:
        flagged = store.flag_sensitive(
            project, sensitive_ids, sensitive_reason, source="import", user=user or _whoami()
        )
        console.print(
            f"{len(sensitive_ids)} taxa sensitive ({flagged.height} newly flagged): their precise locations "
            "are shown only to allowed users."
        )
    if result.replaced:
        console.print(f"{result.replaced} assessment(s) replaced by a corrected version.")
    _print_issues(aset.issues)
    if warnings:
        warnings.write_text(
            "\n".join(str(i) for i in aset.issues) + ("\n" if aset.issues else ""), encoding="utf-8"
        )


def _whoami() -> str:
    try:
        import getpass

        return getpass.getuser()
    except Exception:  # pragma: no cover - no user database (containers)
        return "unknown"


def _load(database: str | None, project: str, latest_only: bool = True):
    store = _store(database)
    if project not in {p["slug"] for p in store.list_projects()}:
        raise A2PError(f"no project {project!r}; import data first (a2p import PATH --project {project})")
    return store.load_set(project, latest_only=latest_only)


def _emit(df: pl.DataFrame, fmt: str, title: str | None = None) -> None:
    if fmt == "csv":
        sys.stdout.write(df.write_csv())
    elif fmt == "json":
        sys.stdout.write(
            json.dumps(df.to_dicts(), default=_json_default, ensure_ascii=False, indent=1) + "\n"
        )
    else:
        table = Table(title=title)
        for c in df.columns:
            table.add_column(c, overflow="fold")
        for row in df.iter_rows():
            table.add_row(*["" if v is None else str(v) for v in row])
        console.print(table)


def _json_default(o: Any) -> Any:
    if isinstance(o, date | datetime):
        return o.isoformat()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


@app.command()
def species(
    project: ProjectOpt = "default",
    category: Annotated[str | None, typer.Option(help="Category codes, comma-separated: CR,EN,VU.")] = None,
    country: Annotated[str | None, typer.Option(help="Country ISO codes, comma-separated: ID,PH.")] = None,
    lme: Annotated[str | None, typer.Option(help="Large marine ecosystem codes, comma-separated.")] = None,
    fao: Annotated[str | None, typer.Option(help="FAO fishing area codes, comma-separated.")] = None,
    threat: Annotated[str | None, typer.Option(help="Threat codes (sub-codes included): 7.2,8.1.")] = None,
    action: Annotated[str | None, typer.Option(help="Conservation action needed codes: 2.2,3.4.")] = None,
    name: Annotated[str | None, typer.Option(help="Part of the scientific name.")] = None,
    kingdom: Annotated[str | None, typer.Option()] = None,
    phylum: Annotated[str | None, typer.Option()] = None,
    class_name: Annotated[str | None, typer.Option("--class")] = None,
    order_name: Annotated[str | None, typer.Option("--order")] = None,
    family: Annotated[str | None, typer.Option()] = None,
    genus: Annotated[str | None, typer.Option()] = None,
    scope: Annotated[str, typer.Option(help="Assessment scope ('' for any).")] = "Global",
    fmt: Annotated[str, typer.Option("--format", help="table | csv | json")] = "table",
    limit: Annotated[int | None, typer.Option(help="Show at most this many rows.")] = None,
    database: DatabaseOpt = None,
) -> None:
    """List species (latest assessment each), filtered by taxonomy, category, place, threat, action.

    Answered by the store's sheet index (like `a2p sheet`, which has every filter): only the
    listed rows are read, so it stays quick on a whole Red List."""
    from assess2plan.sheet import parse_query

    store = _store(database)
    _require_project(store, project)
    filters = {
        "category": category,
        "country": country,
        "lme": lme,
        "fao": fao,
        "threat": threat,
        "action_needed": action,
        "name": name,
        "kingdom": kingdom,
        "phylum": phylum,
        "class": class_name,
        "order": order_name,
        "family": family,
        "genus": genus,
    }
    conditions = [f"{k}={v}" for k, v in filters.items() if v]
    query = parse_query(conditions, scope=scope)
    total = store.sheet_count(project, query)
    sheet = store.query_sheet(project, query, limit=limit)
    df = sheet.select(
        "taxon_id",
        "scientific_name",
        "family",
        "category",
        "criteria",
        "year_published",
        "population_trend",
        "assessment_id",
        pl.col("threats").list.len().alias("threats"),
        pl.col("actions_needed").list.len().alias("actions_needed"),
        pl.col("countries").list.len().alias("countries"),
    )
    _emit(df, fmt, title=f"{total} species")


@app.command()
def show(
    taxon: Annotated[str, typer.Argument(help="Taxon id, scientific name or assessment id.")],
    project: ProjectOpt = "default",
    fmt: Annotated[str, typer.Option("--format", help="text | json")] = "text",
    database: DatabaseOpt = None,
) -> None:
    """One species' full record: threats with impact, actions in place and needed, research, places."""
    from assess2plan.species import species_record

    store = _store(database)
    _require_project(store, project)
    # only the taxa the text can mean are read from the store, not the whole project
    candidates = store.find_taxa(project, taxon)
    if not candidates:
        raise A2PError(f"no taxon matches {taxon!r} in project {project!r}")
    aset = store.load_set(project, taxon_ids=candidates, latest_only=False)
    rec = species_record(aset, taxon)
    if fmt == "json":
        sys.stdout.write(json.dumps(rec, default=_json_default, ensure_ascii=False, indent=1) + "\n")
        return
    _print_record(rec)


def _section(title: str, rows: list[dict], cols: list[tuple[str, str]]) -> None:
    if not rows:
        console.print(f"[bold]{title}[/bold]: none recorded")
        return
    table = Table(title=title, title_justify="left", title_style="bold")
    for _, label in cols:
        table.add_column(label, overflow="fold")
    for r in rows:
        table.add_row(*["" if r.get(k) is None else str(r.get(k)) for k, _ in cols])
    console.print(table)


def _print_record(rec: dict) -> None:
    from assess2plan.text import plain_text

    t = rec["taxon"]
    a = rec["assessment"] or {}
    title = t.get("scientific_name") or a.get("scientific_name") or t.get("taxon_id")
    console.print(
        f"[bold]{title}[/bold] {t.get('authority') or ''}  (taxon {t.get('taxon_id')})", highlight=False
    )
    lineage = " > ".join(
        str(t[k]) for k in ("kingdom", "phylum", "class_name", "order_name", "family") if t.get(k)
    )
    if lineage:
        console.print(lineage, highlight=False)
    if rec.get("common_names"):
        console.print(
            "Common names: "
            + "; ".join(f"{c['name']} ({c.get('language') or '?'})" for c in rec["common_names"])
        )
    if not a:
        console.print("No assessment stored.")
        return
    crit = f" {a['criteria']}" if a.get("criteria") else ""
    pe = " (possibly extinct)" if a.get("possibly_extinct") else ""
    console.print(
        f"[bold]{a.get('category_label') or a.get('category')}[/bold] ({a.get('category')}{crit}){pe}, "
        f"criteria version {a.get('criteria_version') or '?'}, published {a.get('year_published') or '?'}, "
        f"assessment {a.get('assessment_id')}, scope {a.get('scopes') or '?'}, population trend {a.get('population_trend') or '?'}",
        highlight=False,
    )
    if a.get("rationale"):
        text = plain_text(a["rationale"])
        console.print("Rationale: " + (text[:600] + "..." if len(text) > 600 else text), highlight=False)
    _section(
        "Threats",
        rec["threats"],
        [
            ("code", "code"),
            ("name", "threat"),
            ("timing", "timing"),
            ("scope", "scope"),
            ("severity", "severity"),
            ("impact", "impact"),
            ("impact_score", "score"),
            ("stress_codes", "stresses"),
        ],
    )
    _section(
        "Actions in place",
        rec["actions_in_place"],
        [("group", "group"), ("name", "action"), ("value", "value"), ("note", "note")],
    )
    _section(
        "Conservation actions needed",
        rec["actions_needed"],
        [("code", "code"), ("name", "action"), ("note", "note")],
    )
    _section(
        "Research needed", rec["research_needed"], [("code", "code"), ("name", "research"), ("note", "note")]
    )
    _section(
        "Habitats",
        rec["habitats"],
        [
            ("code", "code"),
            ("name", "habitat"),
            ("suitability", "suitability"),
            ("major_importance", "major importance"),
            ("season", "season"),
        ],
    )
    countries = [r for r in rec["occurrence"] if r.get("kind") == "country"]
    others = [r for r in rec["occurrence"] if r.get("kind") != "country"]
    _section(
        "Countries",
        countries,
        [
            ("code", "code"),
            ("name", "country"),
            ("presence", "presence"),
            ("origin", "origin"),
            ("seasonality", "seasonality"),
        ],
    )
    if others:
        _section(
            "Other places (subnational, LME, FAO)",
            others,
            [
                ("kind", "kind"),
                ("code", "code"),
                ("name", "name"),
                ("presence", "presence"),
                ("origin", "origin"),
            ],
        )
    if rec.get("use_trade"):
        _section("Use and trade", rec["use_trade"], [("code", "code"), ("name", "use")])
    if rec.get("credits"):
        _section("Credits", rec["credits"], [("credit_type", "role"), ("text", "who")])
    if len(rec.get("history") or []) > 1:
        _section(
            "Assessment history",
            rec["history"],
            [
                ("year_published", "year"),
                ("category", "category"),
                ("criteria", "criteria"),
                ("assessment_id", "assessment"),
                ("scopes", "scope"),
            ],
        )


ConditionsArg = Annotated[
    list[str] | None,
    typer.Argument(
        help="Filters, combined with AND: category=CR,EN country=ID threat=7.2 'action_needed!=2' "
        "'year<2015' research=none (fields: a2p sheet --fields).",
        show_default=False,
    ),
]
SearchOpt = Annotated[
    str | None,
    typer.Option(
        "--search", "-s", help='Full-text search of the narratives: words, "a phrase", -excluded, prefix*.'
    ),
]
ScopeOpt = Annotated[str, typer.Option(help="Assessment scope ('' for any).")]


def _query(conditions: list[str] | None, search: str | None, sort: str | None = None, scope: str = "Global"):
    from assess2plan.sheet import parse_query

    return parse_query(conditions or [], text=search, sort=sort, scope=scope)


def _write_frame(df: pl.DataFrame, fmt: str, out: Path | None, title: str | None = None) -> None:
    """csv / json to a file or stdout; table to the terminal."""
    if fmt not in ("table", "csv", "json"):
        raise A2PError(f"unknown format {fmt!r}; use table, csv or json")
    if out is None:
        _emit(df, fmt, title)
        return
    if fmt == "table":
        fmt = "json" if out.suffix.lower() == ".json" else "csv"
    tmp = out.with_name(out.name + ".part")
    if fmt == "csv":
        df.write_csv(tmp)
    else:
        tmp.write_text(
            json.dumps(df.to_dicts(), default=_json_default, ensure_ascii=False, indent=1) + "\n",
            encoding="utf-8",
        )
    tmp.replace(out)
    console.print(f"Wrote {df.height} rows to {out}")


@app.command()
def sheet(
    conditions: ConditionsArg = None,
    project: ProjectOpt = "default",
    search: SearchOpt = None,
    sort: Annotated[
        str | None, typer.Option(help="Columns, comma-separated, -col for descending: -year,category.")
    ] = None,
    facets: Annotated[
        str | None,
        typer.Option(help="Count taxa per value of these fields instead of listing rows: category,threat."),
    ] = None,
    columns: Annotated[
        str | None, typer.Option(help="Columns to show (table format), comma-separated.")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="table | csv | json")] = "table",
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write to this file instead of the terminal.")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="At most this many rows.")] = None,
    scope: ScopeOpt = "Global",
    fields: Annotated[bool, typer.Option("--fields", help="List the filter fields and exit.")] = False,
    database: DatabaseOpt = None,
) -> None:
    """The planning sheet: one row per taxon (latest assessment), filtered, searched, sorted; or facet counts."""
    from assess2plan.sheet import FIELDS, sheet_for_export

    if fields:
        _emit(
            pl.DataFrame([{"field": f.name, "matches": f.kind, "meaning": f.label} for f in FIELDS.values()]),
            fmt,
        )
        return
    store = _store(database)
    _require_project(store, project)
    q = _query(conditions, search, sort, scope)
    if facets:
        df = store.sheet_facets(project, q, [f.strip() for f in facets.split(",") if f.strip()])
        _write_frame(df, fmt, out, title=f"Taxa per value ({q})")
        return
    total = store.sheet_count(project, q)
    df = store.query_sheet(project, q, limit=limit)
    if fmt == "json":
        _write_frame(df, fmt, out)
        return
    flat = sheet_for_export(df, "; " if fmt == "table" else "|")
    if fmt == "table" and out is None:
        cols = (
            [c.strip() for c in columns.split(",")]
            if columns
            else [
                "scientific_name",
                "category",
                "criteria",
                "population_trend",
                "year_published",
                "countries",
                "major_threats",
                "actions_needed",
            ]
        )
        unknown = [c for c in cols if c not in flat.columns]
        if unknown:
            raise A2PError(f"unknown column(s) {', '.join(unknown)}; columns: {', '.join(flat.columns)}")
        flat = flat.select(cols)
    shown = f"{df.height} of {total}" if df.height < total else str(total)
    _write_frame(flat, fmt, out, title=f"{shown} taxa in {project!r}: {q}")


def _require_project(store, project: str) -> None:
    if project not in {p["slug"] for p in store.list_projects()}:
        raise A2PError(f"no project {project!r}; import data first (a2p import PATH --project {project})")


@app.command()
def check(
    project: ProjectOpt = "default",
    rule: Annotated[
        list[str] | None, typer.Option("--rule", "-r", help="Run only this rule (repeatable).")
    ] = None,
    disable: Annotated[
        list[str] | None, typer.Option("--disable", help="Switch this rule off (repeatable).")
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(help="TOML file with your thresholds / crosswalk files (see docs/checks.md)."),
    ] = None,
    severity: Annotated[
        str | None, typer.Option(help="Only findings at least this severe: error | warning | info.")
    ] = None,
    today: Annotated[
        str | None, typer.Option(help="Date the age of assessments is measured from (YYYY-MM-DD).")
    ] = None,
    rules: Annotated[bool, typer.Option("--rules", help="List the rules and exit.")] = False,
    summary: Annotated[bool, typer.Option("--summary", help="Only the number of findings per rule.")] = False,
    fmt: Annotated[str, typer.Option("--format", help="table | csv | json")] = "table",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the findings to this file.")] = None,
    scope: ScopeOpt = "Global",
    database: DatabaseOpt = None,
) -> None:
    """Run the consistency checks on a project's latest assessments and list the findings."""
    from assess2plan.checks import RULES, SEVERITIES, check_frame, rules_frame

    if rules:
        _emit(rules_frame(), fmt)
        return
    unknown = sorted(set(rule or []) - set(RULES) | set(disable or []) - set(RULES))
    if unknown:
        raise A2PError(f"unknown rule(s) {', '.join(unknown)}; rules: {', '.join(RULES)} (a2p check --rules)")
    when = None
    if today:
        try:
            when = date.fromisoformat(today)
        except ValueError:
            raise A2PError(f"--today {today!r} is not a date (YYYY-MM-DD)") from None
    settings: Any = None
    if disable:
        from assess2plan.checks import CheckConfig

        base = CheckConfig.load(config)
        over = {"rules": {r: {"enabled": False} for r in disable}}
        from assess2plan.checks.core import _merge

        settings = CheckConfig(_merge(base.settings, over), base.base_dir, base.source)
    else:
        settings = config
    aset = _load(database, project)
    kwargs: dict[str, Any] = {"config": settings, "scope": scope}
    if when:
        kwargs["today"] = when
    if rule:
        kwargs["rules"] = rule
    df = check_frame(aset, **kwargs)
    if severity:
        if severity not in SEVERITIES:
            raise A2PError(f"unknown severity {severity!r}; use {', '.join(SEVERITIES)}")
        keep = SEVERITIES[: SEVERITIES.index(severity) + 1]
        df = df.filter(pl.col("severity").is_in(keep))
    if summary:
        df = (
            df.group_by("rule", "severity")
            .agg(pl.len().alias("findings"), pl.col("taxon_id").n_unique().alias("taxa"))
            .sort("findings", descending=True)
        )
        _write_frame(df, fmt, out, title=f"Findings per rule in {project!r}")
        return
    if fmt == "table" and out is None:
        _write_frame(
            df.select("severity", "rule", "scientific_name", "message", "suggested_fix"),
            fmt,
            None,
            title=f"{df.height} findings in {project!r}",
        )
        return
    _write_frame(df, fmt, out)


edit_app = typer.Typer(
    help="Workshop edits of conservation actions needed: add, remove, undo, log.", no_args_is_help=True
)
app.add_typer(edit_app, name="edit")


def _edit(
    operation: str, code: str, conditions, project, taxon, note, reason, user, search, yes, dry_run, database
) -> None:
    store = _store(database)
    _require_project(store, project)
    q = _query(conditions, search)
    if not conditions and not search and not taxon:
        raise A2PError("say which species to edit: filters (e.g. category=CR threat=7.2) and/or --taxon")
    if not reason:
        raise A2PError("give a --reason: it is recorded with the edit")
    kwargs = dict(
        operation=operation,
        code=code,
        note=note,
        query=q,
        taxa=taxon or None,
        reason=reason,
        user=user or _whoami(),
    )
    preview = store.edit_actions(project, **kwargs, dry_run=True)
    verb = "add action needed" if operation == "add" else "remove action needed"
    console.print(
        f"{verb} {preview.code} for {len(preview.changed)} taxa"
        + (f" ({len(preview.unchanged)} already as asked)" if preview.unchanged else "")
    )
    for r in preview.changed[:20]:
        console.print(f"  {r['scientific_name']} ({r['taxon_id']})", highlight=False)
    if len(preview.changed) > 20:
        console.print(f"  ... and {len(preview.changed) - 20} more")
    if dry_run or not preview.changed:
        console.print("Nothing written." if not preview.changed else "Dry run: nothing written.")
        return
    if not yes and not typer.confirm("Write this edit?", default=False):
        console.print("Nothing written.")
        return
    result = store.edit_actions(project, **kwargs)
    console.print(
        f"Edit {result.edit_id}: {len(result.changed)} assessments changed (undo: a2p edit undo {result.edit_id})"
    )


@edit_app.command("add")
def edit_add(
    code: Annotated[str, typer.Argument(help="Conservation action code (scheme 2.0), e.g. 2.1 or 5.1.2.")],
    conditions: ConditionsArg = None,
    project: ProjectOpt = "default",
    taxon: Annotated[
        list[str] | None, typer.Option("--taxon", "-t", help="Taxon id or scientific name (repeatable).")
    ] = None,
    note: Annotated[str | None, typer.Option(help="Note stored with the action.")] = None,
    reason: Annotated[str | None, typer.Option(help="Why (recorded).")] = None,
    user: Annotated[str | None, typer.Option(help="Who (recorded); default: your login.")] = None,
    search: SearchOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would change; write nothing.")
    ] = False,
    database: DatabaseOpt = None,
) -> None:
    """Add an action needed to every selected species that lacks it."""
    _edit("add", code, conditions, project, taxon, note, reason, user, search, yes, dry_run, database)


@edit_app.command("remove")
def edit_remove(
    code: Annotated[str, typer.Argument(help="Conservation action code to remove (exact code).")],
    conditions: ConditionsArg = None,
    project: ProjectOpt = "default",
    taxon: Annotated[
        list[str] | None, typer.Option("--taxon", "-t", help="Taxon id or scientific name (repeatable).")
    ] = None,
    reason: Annotated[str | None, typer.Option(help="Why (recorded).")] = None,
    user: Annotated[str | None, typer.Option(help="Who (recorded); default: your login.")] = None,
    search: SearchOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would change; write nothing.")
    ] = False,
    database: DatabaseOpt = None,
) -> None:
    """Remove an action needed from every selected species that has it."""
    _edit("remove", code, conditions, project, taxon, None, reason, user, search, yes, dry_run, database)


@edit_app.command("undo")
def edit_undo(
    edit_id: Annotated[int, typer.Argument(help="Edit number (see a2p edit log).")],
    project: ProjectOpt = "default",
    reason: Annotated[str | None, typer.Option(help="Why (recorded).")] = None,
    user: Annotated[str | None, typer.Option(help="Who (recorded); default: your login.")] = None,
    database: DatabaseOpt = None,
) -> None:
    """Undo an edit (refused when a later edit changed the same species: undo that first)."""
    store = _store(database)
    result = store.undo_edit(project, edit_id, reason=reason, user=user or _whoami())
    console.print(f"Edit {result.edit_id} undid edit {edit_id}: {len(result.changed)} assessments restored.")


@edit_app.command("log")
def edit_log(
    project: ProjectOpt = "default",
    details: Annotated[
        bool, typer.Option("--details", help="One row per changed species with before/after.")
    ] = False,
    fmt: Annotated[str, typer.Option("--format", help="table | csv | json")] = "table",
    out: Annotated[Path | None, typer.Option("--out", "-o")] = None,
    database: DatabaseOpt = None,
) -> None:
    """The edit log: who changed what, when and why."""
    store = _store(database)
    log = store.list_edits(project)
    if details:
        rows = [
            {
                "edit": e["id"],
                "made_at": e["made_at"],
                "made_by": e["made_by"],
                "operation": e["operation"],
                "code": e["code"],
                "taxon_id": c["taxon_id"],
                "scientific_name": c["scientific_name"],
                "before": "|".join(r["code"] for r in c["before"]),
                "after": "|".join(r["code"] for r in c["after"]),
                "reason": e["reason"],
            }
            for e in log
            for c in e["changes"]
        ]
        df = pl.DataFrame(rows) if rows else pl.DataFrame(schema={"edit": pl.Int64})
    else:
        df = (
            pl.DataFrame(
                [{k: v for k, v in e.items() if k != "changes"} for e in log],
                schema={
                    "id": pl.Int64,
                    "made_at": pl.Datetime,
                    "made_by": pl.Utf8,
                    "operation": pl.Utf8,
                    "code": pl.Utf8,
                    "note": pl.Utf8,
                    "selection": pl.Utf8,
                    "reason": pl.Utf8,
                    "assessments": pl.Int64,
                    "undoes": pl.Int64,
                    "undone_by": pl.Int64,
                },
                orient="row",
            )
            if log
            else pl.DataFrame(schema={"id": pl.Int64})
        )
    _write_frame(df, fmt, out, title=f"Edits in {project!r}")


@app.command()
def export(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output file (json, xlsx) or folder (csv, sis-connect).")
    ],
    fmt: Annotated[str, typer.Option("--format", help="json | csv | xlsx | sis-connect")] = "json",
    conditions: ConditionsArg = None,
    project: ProjectOpt = "default",
    search: SearchOpt = None,
    all_assessments: Annotated[
        bool, typer.Option("--all-assessments", help="json/csv: include historic assessments.")
    ] = False,
    all_taxa: Annotated[
        bool,
        typer.Option(
            "--all-taxa", help="sis-connect: every selected taxon, not only those edited at the workshop."
        ),
    ] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")] = False,
    today: Annotated[
        str | None, typer.Option(help="xlsx: date for the age-of-assessment check (YYYY-MM-DD).")
    ] = None,
    database: DatabaseOpt = None,
) -> None:
    """Export: canonical tables (json, csv), the workshop workbook (xlsx: overview, threats and
    actions matrices, findings, legend) or a SIS Connect set of the edited conservation actions."""
    from assess2plan.io.export import write_csv_tables, write_json

    if fmt not in ("json", "csv", "xlsx", "sis-connect"):
        raise A2PError(f"unknown export format {fmt!r}; use json, csv, xlsx or sis-connect")
    if fmt in ("json", "xlsx") and out.exists() and not overwrite:
        raise A2PError(f"{out} exists; use --overwrite to replace it")
    store = _store(database)
    _require_project(store, project)
    q = _query(conditions, search)
    selected = conditions or search
    taxa = None
    if selected:
        taxa = store.query_sheet(project, q)["taxon_id"].to_list()
    if fmt == "sis-connect":
        from assess2plan.io import write_sis_connect
        from assess2plan.web.store.edits import edited_taxa

        if not all_taxa:
            edited = edited_taxa(project)
            taxa = [t for t in edited if taxa is None or t in set(taxa)]
            if not taxa:
                raise A2PError(
                    "no edited species to export (no workshop edits in effect); use --all-taxa to export every selected species"
                )
        aset = store.load_set(project, taxon_ids=taxa)
        files = write_sis_connect(aset, out, taxa=taxa, tables=("actions_needed",), overwrite=overwrite)
        console.print(
            f"Wrote SIS Connect files for {len(taxa) if taxa is not None else aset.taxa.height} taxa to {out}: {', '.join(sorted(files))}"
        )
        return
    if fmt == "xlsx":
        from assess2plan.checks import check_frame
        from assess2plan.io.workbook import write_workbook
        from assess2plan.sheet import planning_sheet

        aset = store.load_set(project, taxon_ids=taxa)
        kwargs: dict[str, Any] = {}
        if today:
            try:
                kwargs["today"] = date.fromisoformat(today)
            except ValueError:
                raise A2PError(f"--today {today!r} is not a date (YYYY-MM-DD)") from None
        sheet_df = planning_sheet(aset)
        findings = check_frame(aset, **kwargs)
        write_workbook(out, aset, sheet=sheet_df, findings=findings, title=f"assess2plan: {project}")
        console.print(f"Wrote {out}: {sheet_df.height} taxa, {findings.height} findings")
        return
    aset = store.load_set(project, taxon_ids=taxa, latest_only=not all_assessments)
    if fmt == "csv":
        files = write_csv_tables(aset, out)
        console.print(f"Wrote {len(files)} CSV files to {out}")
    else:
        write_json(aset, out, project=project)
        console.print(f"Wrote {out}")


@app.command()
def projects(database: DatabaseOpt = None) -> None:
    """List projects and their datasets (imports)."""
    store = _store(database)
    table = Table(title="Projects")
    for c in ("project", "datasets", "species", "assessments"):
        table.add_column(c)
    for p in store.list_projects():
        c = store.counts(p["slug"])
        table.add_row(
            p["slug"],
            str(len(store.list_datasets(p["slug"]))),
            str(c.get("species", 0)),
            str(c.get("assessments", 0)),
        )
    console.print(table)


@app.command()
def pull(
    group: Annotated[str, typer.Argument(help="Taxonomic rank: kingdom, phylum, class, order or family.")],
    name: Annotated[str, typer.Argument(help="Name at that rank, e.g. Felidae.")],
    cache: Annotated[Path, typer.Option(help="Folder for the on-disk response cache (resumable).")] = Path(
        "redlist-api-cache"
    ),
    project: ProjectOpt = "default",
    all_assessments: Annotated[
        bool, typer.Option("--all-assessments", help="Also historic assessments.")
    ] = False,
    database: DatabaseOpt = None,
) -> None:
    """Pull assessments from the Red List API v4 (token in IUCN_REDLIST_KEY) and import them."""
    from assess2plan.io.api_v4 import RedListClient, read_api_json

    client = RedListClient(cache_dir=cache)
    with _progress() as bar:
        task = bar.add_task("pulling", total=None)

        def cb(stage: str, done: int, total: int) -> None:
            bar.update(task, description=stage, completed=done, total=total)

        paths = client.pull_taxa(group, name, latest=not all_assessments, progress=cb)
    aset = read_api_json(paths)
    store = _store(database)
    result = store.import_set(aset, project=project, user=_whoami())
    console.print(
        f"Pulled {len(paths)} responses; added {result.added.get('assessments', 0)} assessments to {project!r}."
    )
    _print_issues(aset.issues)


@app.command()
def demo(
    project: ProjectOpt = "example",
    database: DatabaseOpt = None,
) -> None:
    """Import the bundled fictional example working set and show what is in it."""
    from assess2plan import planning
    from assess2plan.checks import check_frame
    from assess2plan.examples import example_path
    from assess2plan.species import species as list_species

    root = example_path("lakeland")
    path = root / "download"
    console.print(f"[bold]Example data[/bold] (fictional taxa and places): {path}")
    import_(paths=[path], project=project, fmt=None, user="demo", warnings=None, sensitive=None, database=database)
    store = _store(database)
    sites = store.import_sites(project, root / "sites.csv", user="demo")
    links = store.import_site_links(project, root / "species_sites.csv", user="demo")
    console.print(
        f"Sites: {len(sites['added'])} added, {len(sites['updated']) + len(sites['unchanged'])} already there; "
        f"species-site links: {links['linked']} new, {links['already']} already there"
    )
    _demo_exsitu(store, project, root)
    aset = _load(database, project)
    df = list_species(aset, category=["CR", "EN", "VU"])
    _emit(df.drop("assessment_id"), "table", title=f"{df.height} threatened species in project {project!r}")
    if df.height:
        first = df.sort(["threats"], descending=True)["taxon_id"][0]
        console.rule()
        show(taxon=first, project=project, fmt="text", database=database)
    console.rule()
    findings = check_frame(aset)
    summary = findings.group_by("rule", "severity").len("findings").sort("findings", descending=True)
    _emit(summary, "table", title=f"{findings.height} consistency findings (a2p check --project {project})")
    site_links = store.site_links(project)
    buckets = planning.apply_decisions(
        planning.triage(aset, site_links=site_links), store.bucket_decisions(project), taxa=aset.latest()
    )
    _emit(planning.bucket_summary(buckets), "table", title=f"planning buckets (a2p triage --project {project})")
    clusters = planning.threat_clusters(aset, site_links=site_links).clusters
    _emit(
        clusters.select("cluster_id", "code_name", "place_name", "size").head(8),
        "table",
        title=f"{clusters.height} clusters of species sharing a major threat in one place (a2p clusters)",
    )
    console.rule()
    console.print(
        f"Next: a2p sheet -p {project} category=CR,EN threat=7 | a2p check -p {project} --summary | "
        f"a2p triage -p {project} | a2p clusters -p {project} | a2p exsitu prescreen -p {project} | "
        f"a2p event raise -p {project} VL01 -t 'Lake Mirren dried up' | a2p report -p {project} -o report.pdf | "
        f"a2p export -p {project} --format xlsx --out workshop.xlsx",
        highlight=False,
    )


def _demo_exsitu(store, project: str, root: Path) -> None:  # noqa: ANN001
    """Import the example's ex situ holdings and CITES checklist, unless these very files are current."""
    import hashlib

    current = store.list_exsitu_sources(project).filter(pl.col("current"))
    have = set(zip(current["kind"].to_list(), current["sha256"].to_list(), strict=True))
    for kind, name in (("holdings", "holdings.csv"), ("cites", "cites_checklist.csv")):
        path = root / name
        if not path.exists() or (kind, hashlib.sha256(path.read_bytes()).hexdigest()) in have:
            continue
        if kind == "holdings":
            r = store.import_holdings(project, path, user="demo")
            console.print(f"Ex situ holdings: {r['rows']} rows, {r['matched']} matched to taxa")
        else:
            r = store.import_cites(project, path, user="demo")
            console.print(f"CITES checklist: {r['rows']} rows; {r['covered'].height} taxa covered by a listing")


def full_app() -> typer.Typer:
    """``app`` with the planning commands (``cli_planning``, which imports this module's helpers)."""
    if not getattr(app, "_a2p_planning", False):
        from assess2plan import cli_exsitu, cli_planning, cli_web

        cli_planning.register(app)
        cli_web.register(app)
        cli_exsitu.register(app)
        app._a2p_planning = True  # type: ignore[attr-defined]
    return app


def main() -> None:
    """Entry point: runs the app and turns every known error into a clear message, never a traceback."""
    try:
        full_app()(standalone_mode=False)
    except InputError as e:
        err.print("[red]Input error:[/red] " + _escape(str(e)), highlight=False)
        err.print("Nothing was imported or changed.")
        sys.exit(2)
    except A2PError as e:
        err.print("[red]Error:[/red] " + _escape(str(e)), highlight=False)
        sys.exit(1)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.Abort:
        err.print("Aborted.")
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as e:  # click usage errors and unexpected failures
        # usage errors (typer's vendored click): they know how to show themselves
        if callable(getattr(e, "show", None)) and isinstance(getattr(e, "exit_code", None), int):
            e.show()
            sys.exit(e.exit_code)
        if os.environ.get("A2P_DEBUG"):
            raise
        err.print(
            f"[red]Unexpected error:[/red] {_escape(type(e).__name__)}: {_escape(str(e))}", highlight=False
        )
        err.print("Please report it; run with A2P_DEBUG=1 to see the traceback.")
        sys.exit(3)


def _escape(s: str) -> str:
    from rich.markup import escape

    return escape(s)


if __name__ == "__main__":  # pragma: no cover
    main()
