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
    typer.Option("--database", help="Database URL (sqlite:///path or postgres://...); default A2P_DATABASE_URL or SQLite."),
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
    paths: Annotated[list[Path], typer.Argument(help="Download zips/folders, SIS Connect folders, API v4 JSON files.")],
    project: ProjectOpt = "default",
    fmt: Annotated[
        str | None, typer.Option("--format", help="redlist-download | sis-connect | api-v4 (default: detect).")
    ] = None,
    user: Annotated[str | None, typer.Option("--user", help="Who imports (recorded with the dataset).")] = None,
    warnings: Annotated[Path | None, typer.Option("--warnings", help="Write every warning to this file.")] = None,
    database: DatabaseOpt = None,
) -> None:
    """Import Red List data into a project: one transaction, nothing written on error."""
    store = _store(database)
    with _progress() as bar:
        aset = _read_with_progress(paths, fmt, bar)
        task = bar.add_task("storing", total=None)

        def cb(stage: str, done: int, total: int) -> None:
            bar.update(task, description=f"storing {stage}", completed=done, total=total)

        result = store.import_set(aset, project=project, user=user or _whoami(), progress=cb)
    counts = aset.counts()
    table = Table(title=f"Imported into project {project!r}" + (" (already there: nothing changed)" if result.unchanged else ""))
    table.add_column("table")
    table.add_column("read", justify="right")
    table.add_column("added", justify="right")
    for name, n in counts.items():
        table.add_row(name, str(n), str(result.added.get(name, "")))
    console.print(table)
    if result.replaced:
        console.print(f"{result.replaced} assessment(s) replaced by a corrected version.")
    _print_issues(aset.issues)
    if warnings:
        warnings.write_text("\n".join(str(i) for i in aset.issues) + ("\n" if aset.issues else ""), encoding="utf-8")


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
        sys.stdout.write(json.dumps(df.to_dicts(), default=_json_default, ensure_ascii=False, indent=1) + "\n")
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
    country: Annotated[str | None, typer.Option(help="Country (or LME/FAO) codes, comma-separated.")] = None,
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
    """List species (latest assessment each), filtered by taxonomy, category, country, threat."""
    from assess2plan.species import species as list_species

    aset = _load(database, project)
    df = list_species(
        aset,
        category=category,
        country=country,
        threat=threat,
        action=action,
        name=name,
        scope=scope,
        kingdom=kingdom,
        phylum=phylum,
        class_name=class_name,
        order_name=order_name,
        family=family,
        genus=genus,
    )
    total = df.height
    if limit is not None:
        df = df.head(limit)
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

    aset = _load(database, project, latest_only=False)
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
    console.print(f"[bold]{title}[/bold] {t.get('authority') or ''}  (taxon {t.get('taxon_id')})", highlight=False)
    lineage = " > ".join(str(t[k]) for k in ("kingdom", "phylum", "class_name", "order_name", "family") if t.get(k))
    if lineage:
        console.print(lineage, highlight=False)
    if rec.get("common_names"):
        console.print("Common names: " + "; ".join(f"{c['name']} ({c.get('language') or '?'})" for c in rec["common_names"]))
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
        [("code", "code"), ("name", "threat"), ("timing", "timing"), ("scope", "scope"), ("severity", "severity"),
         ("impact", "impact"), ("impact_score", "score"), ("stress_codes", "stresses")],
    )
    _section("Actions in place", rec["actions_in_place"], [("group", "group"), ("name", "action"), ("value", "value"), ("note", "note")])
    _section("Conservation actions needed", rec["actions_needed"], [("code", "code"), ("name", "action"), ("note", "note")])
    _section("Research needed", rec["research_needed"], [("code", "code"), ("name", "research"), ("note", "note")])
    _section(
        "Habitats", rec["habitats"],
        [("code", "code"), ("name", "habitat"), ("suitability", "suitability"), ("major_importance", "major importance"), ("season", "season")],
    )
    countries = [r for r in rec["occurrence"] if r.get("kind") == "country"]
    others = [r for r in rec["occurrence"] if r.get("kind") != "country"]
    _section("Countries", countries, [("code", "code"), ("name", "country"), ("presence", "presence"), ("origin", "origin"), ("seasonality", "seasonality")])
    if others:
        _section("Other places (subnational, LME, FAO)", others, [("kind", "kind"), ("code", "code"), ("name", "name"), ("presence", "presence"), ("origin", "origin")])
    if rec.get("use_trade"):
        _section("Use and trade", rec["use_trade"], [("code", "code"), ("name", "use")])
    if rec.get("credits"):
        _section("Credits", rec["credits"], [("credit_type", "role"), ("text", "who")])
    if len(rec.get("history") or []) > 1:
        _section("Assessment history", rec["history"], [("year_published", "year"), ("category", "category"), ("criteria", "criteria"), ("assessment_id", "assessment"), ("scopes", "scope")])


@app.command()
def export(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output file (json) or folder (csv).")],
    fmt: Annotated[str, typer.Option("--format", help="json | csv")] = "json",
    project: ProjectOpt = "default",
    all_assessments: Annotated[bool, typer.Option("--all-assessments", help="Include historic assessments.")] = False,
    database: DatabaseOpt = None,
) -> None:
    """Export the project's canonical tables: csv = one file per table; json = one document."""
    from assess2plan.io.export import write_csv_tables, write_json

    aset = _load(database, project, latest_only=not all_assessments)
    if fmt == "csv":
        files = write_csv_tables(aset, out)
        console.print(f"Wrote {len(files)} CSV files to {out}")
    elif fmt == "json":
        write_json(aset, out, project=project)
        console.print(f"Wrote {out}")
    else:
        raise A2PError(f"unknown export format {fmt!r}; use json or csv")


@app.command()
def projects(database: DatabaseOpt = None) -> None:
    """List projects and their datasets (imports)."""
    store = _store(database)
    table = Table(title="Projects")
    for c in ("project", "datasets", "species", "assessments"):
        table.add_column(c)
    for p in store.list_projects():
        c = store.counts(p["slug"])
        table.add_row(p["slug"], str(len(store.list_datasets(p["slug"]))), str(c.get("species", 0)), str(c.get("assessments", 0)))
    console.print(table)


@app.command()
def pull(
    group: Annotated[str, typer.Argument(help="Taxonomic rank: kingdom, phylum, class, order or family.")],
    name: Annotated[str, typer.Argument(help="Name at that rank, e.g. Felidae.")],
    cache: Annotated[Path, typer.Option(help="Folder for the on-disk response cache (resumable).")] = Path("redlist-api-cache"),
    project: ProjectOpt = "default",
    all_assessments: Annotated[bool, typer.Option("--all-assessments", help="Also historic assessments.")] = False,
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
    console.print(f"Pulled {len(paths)} responses; added {result.added.get('assessments', 0)} assessments to {project!r}.")
    _print_issues(aset.issues)


@app.command()
def demo(
    project: ProjectOpt = "example",
    database: DatabaseOpt = None,
) -> None:
    """Import the bundled fictional example working set and show what is in it."""
    from assess2plan.examples import example_path
    from assess2plan.species import species as list_species

    path = example_path("lakeland") / "download"
    console.print(f"[bold]Example data[/bold] (fictional taxa and places): {path}")
    import_(paths=[path], project=project, fmt=None, user="demo", warnings=None, database=database)
    aset = _load(database, project)
    df = list_species(aset, category=["CR", "EN", "VU"])
    _emit(df.drop("assessment_id"), "table", title=f"{df.height} threatened species in project {project!r}")
    if df.height:
        first = df.sort(["threats"], descending=True)["taxon_id"][0]
        console.rule()
        show(taxon=first, project=project, fmt="text", database=database)
    console.rule()
    console.print(
        f"Next: a2p species --project {project} --threat 7.2 | a2p show 'NAME' --project {project} | "
        f"a2p export --project {project} --format csv --out out/"
    )


def main() -> None:
    """Entry point: runs the app and turns every known error into a clear message, never a traceback."""
    try:
        app(standalone_mode=False)
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
        import click

        if isinstance(e, click.exceptions.ClickException):
            e.show()
            sys.exit(e.exit_code)
        if os.environ.get("A2P_DEBUG"):
            raise
        err.print(f"[red]Unexpected error:[/red] {_escape(type(e).__name__)}: {_escape(str(e))}", highlight=False)
        err.print("Please report it; run with A2P_DEBUG=1 to see the traceback.")
        sys.exit(3)


def _escape(s: str) -> str:
    from rich.markup import escape

    return escape(s)


if __name__ == "__main__":  # pragma: no cover
    main()
