"""``a2p exsitu`` commands (issue 6): the ex situ pre-screen, holdings and CITES imports, the
five-step Ex situ Conservation Assessment of a species and its decision report::

    a2p exsitu prescreen | rules
    a2p exsitu holdings import|list      a2p exsitu cites import|list
    a2p exsitu roles | factors | checklist | popsize
    a2p exsitu start TAXON               step 1 pre-filled from the data
    a2p exsitu notes|role|size|score|decide|translocation TAXON ...   one step at a time
    a2p exsitu step TAXON STEP FILE.json a whole step from a file
    a2p exsitu show|history|refresh|report TAXON;  a2p exsitu list

Every edit is saved against the version you saw (``--version``; default the current one) and
refused when someone else saved in between; every save records who and when.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer

from assess2plan.cli import DatabaseOpt, ProjectOpt, _json_default, _whoami, console
from assess2plan.cli_planning import FormatOpt, OutOpt, UserOpt, _open, _write_frame
from assess2plan.errors import A2PError, InputError

__all__ = ["register", "exsitu_app"]

exsitu_app = typer.Typer(
    help="Ex situ conservation: pre-screen, holdings, CITES, the five-step assessment (IUCN SSC 2014).",
    no_args_is_help=True,
)
holdings_app = typer.Typer(help="Ex situ holdings (Species360/ZIMS-style tables).", no_args_is_help=True)
cites_app = typer.Typer(help="CITES listings (Species+ checklist export).", no_args_is_help=True)

TaxonArg = Annotated[str, typer.Argument(help="Taxon id, assessment id or scientific name.")]
VersionOpt = Annotated[
    int | None,
    typer.Option("--version", help="The version you saw (a2p exsitu show); refused if it changed since."),
]


def register(app: typer.Typer) -> None:
    exsitu_app.add_typer(holdings_app, name="holdings")
    exsitu_app.add_typer(cites_app, name="cites")
    app.add_typer(exsitu_app, name="exsitu")


def _say(text: str) -> None:
    """Print with rich markup (bold headings); data inside goes through ``_e``."""
    console.print(text, highlight=False)


def _e(value: Any) -> str:
    """Data shown inside rich markup: "[harvest]" is text, not a style."""
    from rich.markup import escape

    return escape("" if value is None else str(value))


# -- pre-screen ----------------------------------------------------------------------------------------
@exsitu_app.command("prescreen")
def prescreen_cmd(
    project: ProjectOpt = "default",
    rules: Annotated[
        Path | None, typer.Option(help="Your own rules file (copy of exsitu/data/prescreen.toml).")
    ] = None,
    fmt: FormatOpt = "table",
    out: OutOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Which species should get an ex situ evaluation, and why (rules: a2p exsitu rules)."""
    store = _open(database, project)
    df = store.run_prescreen(project, rules=rules)
    flat = df.with_columns(
        [pl.col(c).list.join("|") for c, t in df.schema.items() if isinstance(t, pl.List)]
    ).drop([c for c in ("evidence", "flagged") if c in df.columns and fmt == "table"])
    _write_frame(
        flat, fmt, out, title=f"{df.height} species flagged for an ex situ evaluation in {project!r}"
    )


@exsitu_app.command("rules")
def rules_cmd(
    rules: Annotated[Path | None, typer.Option(help="A rules file to check and show.")] = None,
    fmt: FormatOpt = "table",
) -> None:
    """The pre-screen rules (bundled, or your file, validated)."""
    from assess2plan.exsitu.prescreen import default_prescreen_path, prescreen_rules_frame

    _write_frame(
        prescreen_rules_frame(rules),
        fmt,
        None,
        title=f"pre-screen rules: {rules or default_prescreen_path()}",
    )


# -- holdings and CITES ------------------------------------------------------------------------------------
@holdings_app.command("import")
def holdings_import(
    path: Annotated[
        Path, typer.Argument(help="Holdings CSV (taxon, institution, country, males, females, ...).")
    ],
    project: ProjectOpt = "default",
    replace: Annotated[
        bool, typer.Option("--replace", help="Retire the earlier holdings files first.")
    ] = False,
    user: UserOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Import ex situ holdings; names are matched to the project's taxa and synonyms."""
    store = _open(database, project)
    r = store.import_holdings(project, path, replace=replace, user=user or _whoami())
    _say(f"Imported {r['rows']} holdings rows from {path}; {r['matched']} matched to taxa of {project!r}.")
    for i in r["issues"]:
        _say(f"[yellow]warning:[/yellow] {_e(i)}")
    un = r["unmatched"]
    if un.height:
        _write_frame(un, "table", None, title=f"{un.height} names not matched to any taxon (kept, not used)")


@holdings_app.command("list")
def holdings_list(
    project: ProjectOpt = "default",
    unmatched: Annotated[bool, typer.Option("--unmatched", help="Only names matched to no taxon.")] = False,
    fmt: FormatOpt = "table",
    out: OutOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """The current holdings, matched to taxa."""
    from assess2plan.exsitu.match import unmatched_holdings

    store = _open(database, project)
    _, h, _ = store.exsitu_inputs(project)
    if unmatched:
        _write_frame(unmatched_holdings(h), fmt, out, title="holdings names matched to no taxon")
    else:
        _write_frame(h, fmt, out, title=f"{h.height} holdings rows")


@cites_app.command("import")
def cites_import(
    path: Annotated[Path, typer.Argument(help="CITES Species+ checklist export (CSV).")],
    project: ProjectOpt = "default",
    user: UserOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Import a CITES checklist (replaces the previous one, which stays on record)."""
    store = _open(database, project)
    r = store.import_cites(project, path, user=user or _whoami())
    cov = r["covered"]
    _say(
        f"Imported {r['rows']} CITES checklist rows from {path}; {cov.height} taxa of {project!r} are covered "
        f"by a listing; {r['unmatched'].height} species names of the checklist match no taxon "
        f"(a2p exsitu cites list --unmatched)."
    )


@cites_app.command("list")
def cites_list(
    project: ProjectOpt = "default",
    unmatched: Annotated[
        bool, typer.Option("--unmatched", help="Checklist species matched to no taxon.")
    ] = False,
    fmt: FormatOpt = "table",
    out: OutOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """The project's taxa covered by a CITES listing (and how they were matched)."""
    from assess2plan.exsitu.match import unmatched_cites

    store = _open(database, project)
    aset, _, cov = store.exsitu_inputs(project)
    if unmatched:
        _write_frame(unmatched_cites(store.cites_listings(project), aset), fmt, out, title="not matched")
    else:
        _write_frame(cov, fmt, out, title=f"{cov.height} taxa covered by a CITES listing")


# -- vocabulary and calculator ---------------------------------------------------------------------------
@exsitu_app.command("roles")
def roles_cmd(fmt: FormatOpt = "table") -> None:
    """The ex situ roles of the IUCN SSC (2014) guidelines (ids used by a2p exsitu role)."""
    from assess2plan.exsitu import guidelines

    rows = [
        {
            "role": r.id,
            "label": r.label,
            "strategy": guidelines.STRATEGY_LABELS.get(r.strategy, r.strategy),
            "actions": "|".join(r.actions),
            "description": r.description,
        }
        for r in guidelines.roles()
    ]
    _write_frame(pl.DataFrame(rows), fmt, None, title="ex situ roles")


@exsitu_app.command("factors")
def factors_cmd(fmt: FormatOpt = "table") -> None:
    """The step 4 factors (ids used by a2p exsitu score) and their 1-5 scales."""
    from assess2plan.exsitu import guidelines

    rows = [
        {
            "factor": f.id,
            "kind": f.kind,
            "label": f.label,
            "question": f.question,
            "1": guidelines.SCORE_LABELS[f.kind][1],
            "5": guidelines.SCORE_LABELS[f.kind][5],
        }
        for f in guidelines.factors()
    ]
    _write_frame(pl.DataFrame(rows), fmt, None, title="step 4 factors")


@exsitu_app.command("checklist")
def checklist_cmd(
    kind: Annotated[
        str | None,
        typer.Option(help="reinforcement | reintroduction | assisted_colonisation | ecological_replacement"),
    ] = None,
    fmt: FormatOpt = "table",
) -> None:
    """The translocation feasibility and risk checklist (IUCN SSC 2013)."""
    from assess2plan.exsitu import guidelines

    rows = [
        {
            "item": i.id,
            "section": i.section,
            "kind": i.kind,
            "blocking": i.blocking,
            "question": i.question,
            "applies_to": "|".join(i.applies_to),
        }
        for i in guidelines.translocation_checklist(kind)
    ]
    _write_frame(pl.DataFrame(rows), fmt, None, title="translocation checklist")


@exsitu_app.command("popsize")
def popsize_cmd(
    generation_length: Annotated[float, typer.Option(help="Generation length in years.")],
    ne_n: Annotated[float, typer.Option("--ne-n", help="Effective / census population size ratio (0-1].")],
    goal: Annotated[float, typer.Option(help="Gene diversity to retain (0.9 or 90).")] = 0.9,
    years: Annotated[float, typer.Option(help="For how many years.")] = 100,
    founders: Annotated[float, typer.Option(help="Effective number of founders.")] = 20,
) -> None:
    """Target population size from a gene-diversity goal (with the formula and the workings)."""
    from assess2plan.exsitu.population import population_size

    g = goal / 100 if 1 < goal < 100 else goal
    r = population_size(
        goal=g, years=years, generation_length=generation_length, ne_n=ne_n, founders=founders
    )
    _print_target(r.__dict__)


def _print_target(r: dict[str, Any]) -> None:
    _say(f"[bold]Formula:[/bold] {_e(r['formula'])}")
    for line in r.get("steps") or []:
        _say(f"  {_e(line)}")
    _say(
        f"[bold]Target:[/bold] Ne = {r['ne']}, N = {r['n']} animals (founders {r['founders']:g}, "
        f"{r['generations']:.2f} generations)"
    )


# -- the five-step assessment -----------------------------------------------------------------------------
def _edit(
    database: str | None,
    project: str,
    taxon: str,
    step: str,
    change: Any,
    version: int | None,
    user: str | None,
    note: str = "",
) -> dict[str, Any]:
    store = _open(database, project)
    cur = store.get_exsitu_assessment(project, taxon)
    seen = version if version is not None else cur["version"]
    record = change(cur["record"])
    saved = store.save_exsitu_step(
        project, cur["taxon_id"], step, record, expected_version=seen, user=user or _whoami(), note=note
    )
    _say(
        f"Saved {step} of the ex situ assessment of {record.get('scientific_name')} (version {saved['version']})."
    )
    return saved


@exsitu_app.command("start")
def start_cmd(
    taxon: TaxonArg, project: ProjectOpt = "default", user: UserOpt = None, database: DatabaseOpt = None
) -> None:
    """Start the five-step assessment of a species; step 1 is pre-filled from the data."""
    store = _open(database, project)
    a = store.start_exsitu_assessment(project, taxon, user=user or _whoami())
    _say(
        f"Started the ex situ assessment of {a['record']['scientific_name']} (taxon {a['taxon_id']}, version 1)."
    )
    _print_record(a)


@exsitu_app.command("list")
def list_cmd(
    project: ProjectOpt = "default",
    fmt: FormatOpt = "table",
    out: OutOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """The ex situ assessments of the project and how far each has got."""
    store = _open(database, project)
    _write_frame(store.list_exsitu_assessments(project), fmt, out, title="ex situ assessments (steps 1-5)")


@exsitu_app.command("show")
def show_cmd(
    taxon: TaxonArg,
    project: ProjectOpt = "default",
    fmt: Annotated[str, typer.Option("--format", help="text | json")] = "text",
    database: DatabaseOpt = None,
) -> None:
    """One assessment: every step (json: the record as stored)."""
    store = _open(database, project)
    a = store.get_exsitu_assessment(project, taxon)
    if fmt == "json":
        sys.stdout.write(json.dumps(a, default=_json_default, ensure_ascii=False, indent=1) + "\n")
        return
    _print_record(a)


def _print_record(a: dict[str, Any]) -> None:
    from assess2plan.exsitu import guidelines
    from assess2plan.exsitu.assessment import STEP_LABELS, STEPS, progress

    rec = a["record"]
    s = rec["status"]
    done = progress(rec)
    _say(
        f"[bold]{_e(rec['scientific_name'])}[/bold] ({rec['taxon_id']}) version {a['version']}, "
        f"last saved by {a['updated_by']} at {a['updated_at']:%Y-%m-%d %H:%M}"
    )
    _say("Steps done: " + "  ".join(f"{STEP_LABELS[k]} {'✓' if done[k] else '·'}" for k in STEPS))
    _say(
        f"[bold]{STEP_LABELS['status']}[/bold]: {s.get('category')} {s.get('criteria') or ''}"
        f"{' (possibly extinct)' if s.get('possibly_extinct') else ''}; trend {s.get('population_trend')}"
    )
    for t in s.get("threats") or []:
        _say(f"  threat {t['code']} {_e(t.get('name'))} — {t.get('timing') or '?'}, {t.get('impact') or '?'}")
    h = s.get("holdings") or {}
    _say(
        f"  ex situ: {h.get('total', 0)} individuals ({h.get('males', 0)}.{h.get('females', 0)}."
        f"{h.get('unknown', 0)}) at {h.get('institutions', 0)} institutions; SIS ex situ in place: "
        f"{s.get('in_place_ex_situ') or '-'}"
    )
    c = s.get("cites")
    _say(
        f"  CITES: {c['listing']} ({_e(c['cites_name'])}, matched by {c['matched_by']})"
        if c
        else "  CITES: not listed or no checklist imported"
    )
    for k in ("in_situ_summary", "ex_situ_summary", "notes"):
        if s.get(k):
            _say(f"  {k.replace('_', ' ')}: {_e(s[k])}")
    _say(f"[bold]{STEP_LABELS['roles']}[/bold]:")
    links = dict(zip(guidelines.THREAT_LINKS, ("addresses", "offsets", "buys time against"), strict=True))
    for r in rec.get("roles") or []:
        th = ", ".join(f"{links.get(t['link'], t['link'])} {t['code']}" for t in r["threats"])
        _say(
            f"  {r['role']}{'' if r['considered'] else ' (not considered)'}: {th or 'no threat linked'}"
            f"{' — ' + _e(r['rationale']) if r['rationale'] else ''}"
        )
    d = rec.get("dimensions") or {}
    _say(
        f"[bold]{STEP_LABELS['dimensions']}[/bold]: goal {d.get('gene_diversity_goal')}, {d.get('years')} years, "
        f"generation {d.get('generation_length')} y, Ne/N {d.get('ne_n')}, founders {d.get('founders')}"
    )
    if d.get("result"):
        _print_target(d["result"])
    _say(f"[bold]{STEP_LABELS['feasibility']}[/bold]:")
    for f in rec.get("feasibility") or []:
        _say(f"  {f['factor']} ({f['kind']}): {f['score']} — {_e(f['rationale'])}")
    dec = rec.get("decision") or {}
    _say(
        f"[bold]{STEP_LABELS['decision']}[/bold]: "
        + (
            "no decision yet"
            if not dec.get("outcome")
            else (f"retain {', '.join(dec['roles'])}" if dec["outcome"] == "retain" else "no ex situ role")
            + f" — {_e(dec['rationale'])} ({dec['decided_by']}, {dec['decided_at']})"
        )
    )
    tr = rec.get("translocation") or {}
    if tr.get("kind"):
        from assess2plan.exsitu.translocation import evaluate_translocation

        v = evaluate_translocation(tr["kind"], tr.get("answers") or {})
        _say(
            f"[bold]{STEP_LABELS['translocation']}[/bold] ({tr['kind']}): {v.verdict}; "
            f"{v.answered}/{v.total} answered"
        )
        for line in v.reasons:
            _say(f"  {_e(line)}")


@exsitu_app.command("notes")
def notes_cmd(
    taxon: TaxonArg,
    in_situ: Annotated[str | None, typer.Option("--in-situ", help="Summary of the in situ status.")] = None,
    ex_situ: Annotated[
        str | None, typer.Option("--ex-situ", help="Summary of existing ex situ populations.")
    ] = None,
    notes: Annotated[str | None, typer.Option(help="Other notes of step 1.")] = None,
    project: ProjectOpt = "default",
    version: VersionOpt = None,
    user: UserOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Step 1: the assessors' summaries of the in situ and ex situ status."""
    from assess2plan.exsitu.assessment import set_notes

    _edit(
        database,
        project,
        taxon,
        "status",
        lambda r: set_notes(r, in_situ_summary=in_situ, ex_situ_summary=ex_situ, notes=notes),
        version,
        user,
    )


def _threat_links(values: list[str] | None) -> list[tuple[str, str]]:
    out = []
    for v in values or []:
        code, sep, link = v.partition(":")
        if not sep:
            raise InputError(
                "--threat",
                "write CODE:LINK, e.g. 8.1.2:buys_time (links: addresses, offsets, buys_time)",
                value=v,
            )
        out.append((code.strip(), link.strip()))
    return out


@exsitu_app.command("role")
def role_cmd(
    taxon: TaxonArg,
    role: Annotated[str, typer.Argument(help="Role id (a2p exsitu roles).")],
    threat: Annotated[
        list[str] | None,
        typer.Option("--threat", help="CODE:LINK, link = addresses | offsets | buys_time; repeat."),
    ] = None,
    rationale: Annotated[str, typer.Option(help="Why this role (or why not).")] = "",
    not_considered: Annotated[
        bool, typer.Option("--not-considered", help="Record it as looked at and set aside.")
    ] = False,
    remove: Annotated[bool, typer.Option("--remove", help="Remove the role from step 2.")] = False,
    project: ProjectOpt = "default",
    version: VersionOpt = None,
    user: UserOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Step 2: a role ex situ management could play, linked to the threats it acts on."""
    from assess2plan.exsitu.assessment import remove_role, set_role

    if remove:
        _edit(database, project, taxon, "roles", lambda r: remove_role(r, role), version, user)
        return
    links = _threat_links(threat)
    _edit(
        database,
        project,
        taxon,
        "roles",
        lambda r: set_role(r, role, threats=links, rationale=rationale, considered=not not_considered),
        version,
        user,
    )


@exsitu_app.command("size")
def size_cmd(
    taxon: TaxonArg,
    generation_length: Annotated[float | None, typer.Option(help="Generation length in years.")] = None,
    ne_n: Annotated[float | None, typer.Option("--ne-n", help="Ne/N ratio (0-1].")] = None,
    goal: Annotated[float | None, typer.Option(help="Gene diversity to retain (0.9 or 90).")] = None,
    years: Annotated[float | None, typer.Option(help="Programme duration in years.")] = None,
    founders: Annotated[float | None, typer.Option(help="Effective number of founders.")] = None,
    notes: Annotated[str | None, typer.Option(help="Notes on the programme dimensions.")] = None,
    project: ProjectOpt = "default",
    version: VersionOpt = None,
    user: UserOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Step 3: programme dimensions; the target population is computed and shown with its formula."""
    from assess2plan.exsitu.assessment import set_dimensions

    saved = _edit(
        database,
        project,
        taxon,
        "dimensions",
        lambda r: set_dimensions(
            r,
            notes=notes,
            gene_diversity_goal=goal,
            years=years,
            generation_length=generation_length,
            ne_n=ne_n,
            founders=founders,
        ),
        version,
        user,
    )
    res = saved["record"]["dimensions"].get("result")
    if res:
        _print_target(res)
    else:
        _say("Give the generation length and Ne/N to compute the target population.")


@exsitu_app.command("score")
def score_cmd(
    taxon: TaxonArg,
    factor: Annotated[str, typer.Argument(help="Factor id (a2p exsitu factors).")],
    score: Annotated[int, typer.Argument(help="1-5 (risks: 5 = very high risk; others: 5 = best).")],
    rationale: Annotated[str, typer.Option(help="Why this score (required).")] = "",
    project: ProjectOpt = "default",
    version: VersionOpt = None,
    user: UserOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Step 4: score a resource, expertise, feasibility or risk factor with its rationale."""
    from assess2plan.exsitu.assessment import set_score

    _edit(
        database,
        project,
        taxon,
        "feasibility",
        lambda r: set_score(r, factor, score, rationale),
        version,
        user,
    )


@exsitu_app.command("decide")
def decide_cmd(
    taxon: TaxonArg,
    rationale: Annotated[str, typer.Option(help="Why (required; shown in the decision report).")],
    retain: Annotated[list[str] | None, typer.Option("--retain", help="A role retained; repeat.")] = None,
    none: Annotated[bool, typer.Option("--none", help="No ex situ role is retained.")] = False,
    project: ProjectOpt = "default",
    version: VersionOpt = None,
    user: UserOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Step 5: the decision — the roles retained, or none — with its rationale."""
    from assess2plan.exsitu.assessment import decide

    if none == bool(retain):
        raise A2PError("give either --retain ROLE (repeatable) or --none")
    who = user or _whoami()
    _edit(
        database,
        project,
        taxon,
        "decision",
        lambda r: decide(r, "none" if none else "retain", retain or [], rationale, user=who),
        version,
        who,
    )


@exsitu_app.command("translocation")
def translocation_cmd(
    taxon: TaxonArg,
    kind: Annotated[
        str | None,
        typer.Option(help="reinforcement | reintroduction | assisted_colonisation | ecological_replacement"),
    ] = None,
    answer: Annotated[
        list[str] | None,
        typer.Option(
            "--answer",
            help="ITEM=ANSWER[:RISK][:NOTE], answer = yes | "
            "no | unknown | na, risk = low | medium | high; repeat.",
        ),
    ] = None,
    notes: Annotated[str | None, typer.Option(help="Notes on the translocation.")] = None,
    project: ProjectOpt = "default",
    version: VersionOpt = None,
    user: UserOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Translocation feasibility and risk checklist (IUCN SSC 2013) for the species."""
    from assess2plan.exsitu.assessment import set_translocation

    answers: dict[str, dict[str, str]] = {}
    for a in answer or []:
        item, sep, rest = a.partition("=")
        if not sep:
            raise InputError(
                "--answer", "write ITEM=ANSWER[:RISK][:NOTE] (a2p exsitu checklist lists the items)", value=a
            )
        parts = rest.split(":", 2)
        answers[item.strip()] = {
            "answer": parts[0],
            "risk": parts[1] if len(parts) > 1 else "",
            "note": parts[2] if len(parts) > 2 else "",
        }
    saved = _edit(
        database,
        project,
        taxon,
        "translocation",
        lambda r: set_translocation(r, kind, answers, notes=notes),
        version,
        user,
    )
    tr = saved["record"]["translocation"]
    if tr.get("kind"):
        from assess2plan.exsitu.translocation import evaluate_translocation

        v = evaluate_translocation(tr["kind"], tr["answers"])
        _say(f"Verdict: {v.verdict} ({v.answered}/{v.total} answered)")
        for line in v.reasons:
            _say(f"  {_e(line)}")


@exsitu_app.command("step")
def step_cmd(
    taxon: TaxonArg,
    step: Annotated[
        str, typer.Argument(help="status | roles | dimensions | feasibility | decision | translocation")
    ],
    file: Annotated[
        Path, typer.Argument(help="JSON file with the step (as in a2p exsitu show --format json).")
    ],
    project: ProjectOpt = "default",
    version: VersionOpt = None,
    user: UserOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Replace one whole step from a JSON file (e.g. prepared in a workshop spreadsheet)."""
    from assess2plan.exsitu.assessment import set_step

    try:
        values = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(str(file), "no such file") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(str(file), f"is not JSON: {e}") from None
    who = user or _whoami()

    def change(r: dict) -> dict:
        v = values
        if step == "decision" and isinstance(v, dict):
            v = {**v, "decided_by": v.get("decided_by") or who}
            if not v.get("decided_at"):
                from datetime import UTC, datetime

                v["decided_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        return set_step(r, step, v)

    _edit(database, project, taxon, step, change, version, who, note=f"from {file.name}")


@exsitu_app.command("refresh")
def refresh_cmd(
    taxon: TaxonArg,
    project: ProjectOpt = "default",
    version: VersionOpt = None,
    user: UserOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Pre-fill step 1 again from the current data, holdings and CITES (your texts are kept)."""
    store = _open(database, project)
    cur = store.get_exsitu_assessment(project, taxon)
    saved = store.refresh_exsitu_status(
        project, cur["taxon_id"], expected_version=version or cur["version"], user=user or _whoami()
    )
    _say(f"Step 1 refreshed (version {saved['version']}).")


@exsitu_app.command("history")
def history_cmd(
    taxon: TaxonArg,
    project: ProjectOpt = "default",
    fmt: FormatOpt = "table",
    out: OutOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Every saved version of an assessment: step, who, when."""
    store = _open(database, project)
    rows = [{k: v for k, v in h.items() if k != "record"} for h in store.assessment_history(project, taxon)]
    _write_frame(pl.DataFrame(rows), fmt, out, title="history")


@exsitu_app.command("report")
def report_cmd(
    taxon: TaxonArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="report.pdf or report.html")],
    project: ProjectOpt = "default",
    user: UserOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """The decision report of an assessment (PDF or HTML, by the file's extension)."""
    from assess2plan.report.exsitu import decision_report

    store = _open(database, project)
    a = store.get_exsitu_assessment(project, taxon)
    history = [
        {k: v for k, v in h.items() if k != "record"} for h in store.assessment_history(project, taxon)
    ]
    fmt = "html" if out.suffix.lower() in (".html", ".htm") else "pdf"
    path = decision_report(
        a["record"], out, format=fmt, project=project, history=history, generated_by=user or _whoami()
    )
    _say(f"Wrote {path}")
