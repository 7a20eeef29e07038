"""``a2p`` commands of multi-species planning (issue 4): sites, site events and notifications,
subscriptions, stakeholders, commitments, bucket decisions, re-assessment flags.

``register(app)`` adds the command groups to the ``a2p`` Typer app::

    a2p site add|import|list|show|link|unlink
    a2p event raise|list|show|retry
    a2p subscribe add|list|remove
    a2p stakeholder add|import|list
    a2p commit add|update|list|export
    a2p decide accept|reject|add|undo|log
    a2p flags list|clear

They follow ``assess2plan.cli``: ``--project``, ``--database``, ``--format table|csv|json``,
``--out FILE``, ``--user`` (recorded; default: your login); errors are ``A2PError`` /
``InputError`` messages shown by ``cli.main``. E-mail notifications use ``A2P_SMTP_URL`` and
``A2P_MAIL_FROM`` (see ``assess2plan.notify``).
"""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer

from assess2plan.cli import (
    DatabaseOpt,
    ProjectOpt,
    _json_default,
    _query,
    _require_project,
    _store,
    _whoami,
    _write_frame,
    console,
    err,
)
from assess2plan.errors import A2PError

__all__ = ["register"]

FormatOpt = Annotated[str, typer.Option("--format", help="table | csv | json")]
OutOpt = Annotated[
    Path | None, typer.Option("--out", "-o", help="Write to this file instead of the terminal.")
]
UserOpt = Annotated[str | None, typer.Option("--user", help="Who (recorded); default: your login.")]

site_app = typer.Typer(
    help="Sites (lakes, river basins, reefs, KBAs, protected areas) and the species at them.",
    no_args_is_help=True,
)
event_app = typer.Typer(
    help="Site events: affected species, re-assessment flags, notifications.", no_args_is_help=True
)
subscribe_app = typer.Typer(
    help="Who is notified of site events (e-mail or signed webhook).", no_args_is_help=True
)
stakeholder_app = typer.Typer(
    help="Stakeholders: people and organisations who take plans forward.", no_args_is_help=True
)
commit_app = typer.Typer(
    help="Commitments: stakeholders sign up for conservation actions.", no_args_is_help=True
)
decide_app = typer.Typer(
    help="Facilitator decisions on planning buckets (recorded, attributable, reversible).",
    no_args_is_help=True,
)
flags_app = typer.Typer(help="Species flagged for re-assessment.", no_args_is_help=True)
sensitive_app = typer.Typer(
    help="Sensitive taxa: their precise locations (sites, subnational places) are shown only to allowed users.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add the planning command groups to ``app``: site, event, subscribe, stakeholder, commit,
    decide, flags."""
    app.add_typer(site_app, name="site")
    app.add_typer(event_app, name="event")
    app.add_typer(subscribe_app, name="subscribe")
    app.add_typer(stakeholder_app, name="stakeholder")
    app.add_typer(commit_app, name="commit")
    app.add_typer(decide_app, name="decide")
    app.add_typer(flags_app, name="flags")
    app.add_typer(sensitive_app, name="sensitive")
    app.command("clusters")(clusters_cmd)
    app.command("triage")(triage_cmd)
    app.command("suggest")(suggest_cmd)
    app.command("report")(report_cmd)
    app.command("datasheet")(datasheet_cmd)


def _open(database: str | None, project: str):  # noqa: ANN202 - the store module
    store = _store(database)
    _require_project(store, project)
    return store


def _say(text: str) -> None:
    console.print(text, highlight=False, markup=False)


def _date_opt(value: str | None, option: str) -> date | None:
    if value is None or not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise A2PError(f"{option} {value!r} is not a date (YYYY-MM-DD)") from None


def _dump(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, default=_json_default, ensure_ascii=False, indent=1) + "\n")


# =================================================================================================
# a2p site
# =================================================================================================
@site_app.command("add")
def site_add(
    site_id: Annotated[str, typer.Argument(help="Short id, unique in the project (e.g. VL01, lake-mirren).")],
    name: Annotated[str, typer.Argument(help="Name of the site.")],
    kind: Annotated[
        str, typer.Option(help="lake | river | river_basin | reef | kba | protected_area | wetland | other")
    ] = "other",
    country: Annotated[str | None, typer.Option(help="ISO alpha-2 country code.")] = None,
    description: Annotated[str, typer.Option(help="What the site is.")] = "",
    geometry: Annotated[
        str | None,
        typer.Option(help="GeoJSON geometry (text, or @file.geojson); longitude, latitude in WGS84."),
    ] = None,
    wkt: Annotated[str | None, typer.Option(help="Geometry as WKT, e.g. 'POINT (-97.2 -32.4)'.")] = None,
    lat: Annotated[float | None, typer.Option(help="Latitude of a point (with --lon).")] = None,
    lon: Annotated[float | None, typer.Option(help="Longitude of a point (with --lat).")] = None,
    sensitive: Annotated[
        bool, typer.Option("--sensitive", help="Precise location only for allowed users.")
    ] = False,
    project: ProjectOpt = "default",
    user: UserOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Add a site."""
    from assess2plan.web.store import planning

    given = [g for g in (geometry, wkt, lat if lat is not None or lon is not None else None) if g is not None]
    if len(given) > 1:
        raise A2PError("give one geometry: --geometry, --wkt or --lat/--lon")
    geom: Any = geometry
    if geometry and geometry.startswith("@"):
        path = Path(geometry[1:])
        if not path.is_file():
            raise A2PError(f"--geometry: no file {path}")
        geom = path.read_text(encoding="utf-8")
    try:
        if wkt:
            geom = planning._wkt(wkt)
        elif lat is not None or lon is not None:
            if lat is None or lon is None:
                raise A2PError("a point needs both --lat and --lon")
            geom = planning._point(lat, lon)
    except planning._Invalid as e:
        raise A2PError(f"--{'wkt' if wkt else 'lat/--lon'}: {e}") from None
    store = _open(database, project)
    s = store.add_site(
        project,
        site_id,
        name,
        kind=kind,
        country=country,
        description=description,
        geometry=geom,
        sensitive=sensitive,
        user=user or _whoami(),
    )
    _say(f"Site {s['site_id']} ({s['name']}, {s['kind']}) added to {project!r}.")


@site_app.command("import")
def site_import(
    path: Annotated[
        Path,
        typer.Argument(
            help="CSV: site_id,name,kind,country,description and geometry (GeoJSON), geometry_wkt "
            "or latitude,longitude; sensitive."
        ),
    ],
    project: ProjectOpt = "default",
    user: UserOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Add or update sites from a CSV file (all or nothing)."""
    store = _open(database, project)
    r = store.import_sites(project, path, user=user or _whoami())
    _say(
        f"Sites from {path}: {len(r['added'])} added, {len(r['updated'])} updated, "
        f"{len(r['unchanged'])} unchanged."
    )


@site_app.command("list")
def site_list(
    project: ProjectOpt = "default",
    hide_sensitive: Annotated[
        bool, typer.Option("--hide-sensitive", help="Blank the geometry of sensitive sites.")
    ] = False,
    fmt: FormatOpt = "table",
    out: OutOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """List the sites with their number of linked species."""
    store = _open(database, project)
    df = store.list_sites(project, details=True, hide_sensitive_geometry=hide_sensitive)
    if fmt == "table" and out is None:
        df = df.select("site_id", "name", "kind", "country", "species", "sensitive", "version")
    _write_frame(df, fmt, out, title=f"{df.height} sites in {project!r}")


@site_app.command("show")
def site_show(
    site: Annotated[str, typer.Argument(help="Site id or name.")],
    project: ProjectOpt = "default",
    fmt: Annotated[str, typer.Option("--format", help="table | json")] = "table",
    database: DatabaseOpt = None,
) -> None:
    """One site: its details, the species linked to it and its events."""
    store = _open(database, project)
    s = store.get_site(project, site)
    species = store.site_species(project, s["site_id"])
    events = store.list_events(project, site=s["site_id"])
    if fmt == "json":
        _dump({"site": s, "species": species.to_dicts(), "events": events.to_dicts()})
        return
    _say(
        f"{s['site_id']}: {s['name']} ({s['kind']}{', ' + s['country'] if s['country'] else ''}), "
        f"version {s['version']}"
    )
    if s["description"]:
        _say(s["description"])
    _say(
        "Geometry: "
        + ("sensitive (not shown)" if s["sensitive"] and s["geometry"] else (s["geometry"] or "none"))
    )
    _write_frame(
        species.select("taxon_id", "scientific_name", "category", "source", "note"),
        "table",
        None,
        title=f"{species.height} species at {s['name']}",
    )
    if events.height:
        _write_frame(
            events.select("event_id", "made_at", "severity", "title", "species", "sent", "failed"),
            "table",
            None,
            title="Events",
        )


@site_app.command("link")
def site_link(
    site: Annotated[str | None, typer.Argument(help="Site id or name (not with --file).")] = None,
    taxa: Annotated[list[str] | None, typer.Argument(help="Taxon ids or scientific names.")] = None,
    select: Annotated[
        list[str] | None,
        typer.Option(
            "--select",
            help="Also link every species matching these sheet filters (repeatable), "
            "e.g. subnational=XA-01 or lme=37.",
        ),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file", help="CSV of links: site_id plus taxon_id / internalTaxonId / scientific_name, note."
        ),
    ] = None,
    source: Annotated[
        str | None, typer.Option(help="import | points | range | manual (default manual; import with --file)")
    ] = None,
    note: Annotated[str | None, typer.Option(help="Note stored with the links.")] = None,
    project: ProjectOpt = "default",
    user: UserOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Link species to a site (by id or name, by a sheet selection, or from a CSV file)."""
    store = _open(database, project)
    if file is not None:
        if site or taxa or select:
            raise A2PError(
                "--file takes the sites and species from the file: give no site, species or --select"
            )
        r = store.import_site_links(project, file, source=source or "import", user=user or _whoami())
        _say(f"Links from {file}: {r['linked']} added, {r['already']} already there.")
        return
    if not site:
        raise A2PError("say which site (a2p site link SITE TAXON... or --file links.csv)")
    if not taxa and not select:
        raise A2PError("say which species: taxon ids / names and/or --select filters")
    q = _query(select, None) if select else None
    r = store.link_species(
        project, site, taxa or None, query=q, source=source or "manual", note=note, user=user or _whoami()
    )
    _say(
        f"{len(r['linked'])} species linked to {site}"
        + (f" ({len(r['already'])} were already)" if r["already"] else "")
        + "."
    )


@site_app.command("link-points")
def site_link_points(
    site: Annotated[str, typer.Argument(help="Site id or name (it needs a geometry).")],
    points: Annotated[Path, typer.Argument(help="Occurrence points CSV (taxon, latitude, longitude columns).")],
    buffer_km: Annotated[float, typer.Option(help="Also points within this many km (point sites need one).")] = 0.0,
    project: ProjectOpt = "default",
    user: UserOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Link the project's species that have occurrence points in the site (source "points")."""
    store = _open(database, project)
    r = store.link_species_from_points(project, site, points, buffer_km=buffer_km, user=user or _whoami())
    _say(f"Linked {len(r['linked'])} species to {site} ({len(r['already'])} already linked).")
    if r["unmatched"]:
        shown = ", ".join(r["unmatched"][:10]) + (f" and {len(r['unmatched']) - 10} more" if len(r["unmatched"]) > 10 else "")
        _say(f"{len(r['unmatched'])} species with points in the site are not in project {project!r}: {shown}")


@site_app.command("unlink")
def site_unlink(
    site: Annotated[str, typer.Argument(help="Site id or name.")],
    taxa: Annotated[list[str], typer.Argument(help="Taxon ids or scientific names.")],
    project: ProjectOpt = "default",
    user: UserOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Remove species from a site."""
    store = _open(database, project)
    ids = store.unlink_species(project, site, taxa, user=user or _whoami())
    _say(f"{len(ids)} species unlinked from {site}: {', '.join(ids)}")


# =================================================================================================
# a2p event
# =================================================================================================
def _print_event(r: Any) -> None:
    e = r.event
    _say(
        f"Event {e['event_id']} at {e['site_name']} ({e['site_id']}): {e['title']} [{e['severity']}], "
        f"by {e['made_by']} on {e['made_at']:%Y-%m-%d %H:%M} UTC"
    )
    if e["description"]:
        _say(e["description"])
    cols = [
        "scientific_name",
        "category",
        "major_threats",
        "actions_needed",
        "actions_in_place",
        "stakeholders",
    ]
    _write_frame(
        r.affected.select(cols),
        "table",
        None,
        title=f"{r.affected.height} species affected (flagged for re-assessment)",
    )
    if r.deliveries.height:
        _write_frame(
            r.deliveries.select("delivery_id", "channel", "target", "status", "attempts", "last_error"),
            "table",
            None,
            title="Notifications",
        )
    else:
        _say("No subscriptions for this site: nobody was notified (a2p subscribe add).")


@event_app.command("raise")
def event_raise(
    site: Annotated[str, typer.Argument(help="Site id or name.")],
    title: Annotated[str, typer.Option("--title", "-t", help="What happened, in a few words.")],
    description: Annotated[str, typer.Option(help="Details.")] = "",
    severity: Annotated[str, typer.Option(help="info | warning | critical")] = "warning",
    notify: Annotated[bool, typer.Option("--notify/--no-notify", help="Send the notifications now.")] = True,
    smtp_url: Annotated[
        str | None, typer.Option(help="SMTP server (default A2P_SMTP_URL), e.g. smtp://mail:587?starttls=1.")
    ] = None,
    mail_from: Annotated[
        str | None, typer.Option("--from", help="Sender address (default A2P_MAIL_FROM).")
    ] = None,
    project: ProjectOpt = "default",
    user: UserOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="table | json")] = "table",
    database: DatabaseOpt = None,
) -> None:
    """Record an event at a site: list the affected species, flag them for re-assessment, notify
    subscribers."""
    store = _open(database, project)
    r = store.raise_event(
        project,
        site,
        title,
        description,
        severity,
        user=user or _whoami(),
        notify_subscribers=notify,
        smtp_url=smtp_url,
        mail_from=mail_from,
    )
    if fmt == "json":
        _dump({"event": r.event, "affected": r.affected.to_dicts(), "deliveries": r.deliveries.to_dicts()})
    else:
        _print_event(r)
    failed = r.deliveries.filter(pl.col("status") == "failed").height
    if failed:
        err.print(
            f"[yellow]{failed} notification(s) failed; see a2p event show {r.event['event_id']}, "
            "then a2p event retry[/yellow]"
        )


@event_app.command("list")
def event_list(
    project: ProjectOpt = "default",
    site: Annotated[str | None, typer.Option(help="Only events of this site.")] = None,
    fmt: FormatOpt = "table",
    out: OutOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """List site events with the number of species affected and notifications sent / failed."""
    store = _open(database, project)
    df = store.list_events(project, site=site)
    if fmt == "table" and out is None:
        df = df.select(
            "event_id", "made_at", "site_id", "severity", "title", "species", "sent", "failed", "pending"
        )
    _write_frame(df, fmt, out, title=f"{df.height} events in {project!r}")


@event_app.command("show")
def event_show(
    event_id: Annotated[str, typer.Argument(help="Event number (a2p event list).")],
    project: ProjectOpt = "default",
    fmt: Annotated[
        str, typer.Option("--format", help="table | csv | json (csv: the affected species)")
    ] = "table",
    out: OutOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """One event: the affected species (as they were when it was raised) and the notifications."""
    store = _open(database, project)
    r = store.event_detail(project, event_id)
    if fmt == "json" and out is None:
        _dump(
            {
                "event": r.event,
                "affected": r.affected.to_dicts(),
                "deliveries": r.deliveries.to_dicts(),
                "delivery_logs": r.delivery_logs,
            }
        )
    elif fmt != "table" or out is not None:
        _write_frame(r.affected, fmt, out)
    else:
        _print_event(r)


@event_app.command("retry")
def event_retry(
    project: ProjectOpt = "default",
    event: Annotated[
        str | None, typer.Option("--event", help="Only the notifications of this event.")
    ] = None,
    smtp_url: Annotated[str | None, typer.Option(help="SMTP server (default A2P_SMTP_URL).")] = None,
    mail_from: Annotated[
        str | None, typer.Option("--from", help="Sender address (default A2P_MAIL_FROM).")
    ] = None,
    fmt: FormatOpt = "table",
    database: DatabaseOpt = None,
) -> None:
    """Send the failed notifications again."""
    store = _open(database, project)
    df = store.retry_deliveries(project, event_id=event, smtp_url=smtp_url, mail_from=mail_from)
    if df.height == 0:
        _say("No failed notifications to send again.")
        return
    _write_frame(df, fmt, None, title=f"{df.filter(pl.col('status') == 'sent').height} of {df.height} sent")


# =================================================================================================
# a2p subscribe
# =================================================================================================
@subscribe_app.command("add")
def subscribe_add(
    email: Annotated[str | None, typer.Option(help="E-mail address to notify.")] = None,
    webhook: Annotated[str | None, typer.Option(help="URL that receives a JSON POST per event.")] = None,
    secret: Annotated[
        str | None, typer.Option(help="Webhook secret: bodies are signed (X-A2P-Signature: sha256=HMAC).")
    ] = None,
    site: Annotated[str | None, typer.Option(help="Only events of this site (default: every site).")] = None,
    project: ProjectOpt = "default",
    user: UserOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Subscribe an e-mail address or a webhook to site events."""
    if (email is None) == (webhook is None):
        raise A2PError("give one of --email ADDRESS or --webhook URL")
    store = _open(database, project)
    channel, target = ("email", email) if email else ("webhook", webhook)
    s = store.subscribe(project, channel, target, site=site, secret=secret, user=user or _whoami())
    _say(
        f"Subscription {s['subscription_id']}: {channel} {target} for "
        + (f"site {s['site_id']}." if s["site_id"] else "all sites.")
    )


@subscribe_app.command("list")
def subscribe_list(
    project: ProjectOpt = "default",
    all_: Annotated[bool, typer.Option("--all", help="Include ended subscriptions.")] = False,
    fmt: FormatOpt = "table",
    out: OutOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """List subscriptions (webhook secrets are never shown)."""
    store = _open(database, project)
    df = store.list_subscriptions(project, include_inactive=all_)
    _write_frame(df, fmt, out, title=f"{df.height} subscriptions in {project!r}")


@subscribe_app.command("remove")
def subscribe_remove(
    subscription_id: Annotated[str, typer.Argument(help="Subscription number (a2p subscribe list).")],
    project: ProjectOpt = "default",
    user: UserOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """End a subscription (kept in the records)."""
    store = _open(database, project)
    s = store.unsubscribe(project, subscription_id, user=user or _whoami())
    _say(f"Subscription {s['subscription_id']} ({s['channel']} {s['target']}) ended.")


# =================================================================================================
# a2p stakeholder
# =================================================================================================
@stakeholder_app.command("add")
def stakeholder_add(
    stakeholder_id: Annotated[str, typer.Argument(help="Short id, unique in the project.")],
    name: Annotated[str, typer.Argument(help="Name of the person or organisation.")],
    kind: Annotated[str, typer.Option(help="organisation | person")] = "organisation",
    organisation: Annotated[str, typer.Option(help="Organisation (of a person).")] = "",
    role: Annotated[str, typer.Option(help="Role, e.g. 'national focal point'.")] = "",
    email: Annotated[str, typer.Option(help="E-mail address.")] = "",
    webhook: Annotated[str, typer.Option(help="Webhook URL.")] = "",
    country: Annotated[list[str] | None, typer.Option("--country", help="ISO alpha-2 (repeatable).")] = None,
    site: Annotated[list[str] | None, typer.Option("--site", help="Site id (repeatable).")] = None,
    expertise: Annotated[
        list[str] | None,
        typer.Option("--expertise", help="t:7.2, a:2.1, taxon:Cyprinidae or words (repeatable)."),
    ] = None,
    project: ProjectOpt = "default",
    user: UserOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Add a stakeholder."""
    store = _open(database, project)
    s = store.add_stakeholder(
        project,
        stakeholder_id,
        name,
        kind=kind,
        organisation=organisation,
        role=role,
        email=email,
        webhook=webhook,
        countries=country or [],
        sites=site or [],
        expertise=expertise or [],
        user=user or _whoami(),
    )
    _say(f"Stakeholder {s['stakeholder_id']} ({s['name']}) added to {project!r}.")


@stakeholder_app.command("import")
def stakeholder_import(
    path: Annotated[
        Path,
        typer.Argument(
            help="CSV: stakeholder_id,name,kind,organisation,role,email,webhook,countries,sites,expertise."
        ),
    ],
    project: ProjectOpt = "default",
    user: UserOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Add or update stakeholders from a CSV file (all or nothing)."""
    store = _open(database, project)
    r = store.import_stakeholders(project, path, user=user or _whoami())
    _say(
        f"Stakeholders from {path}: {len(r['added'])} added, {len(r['updated'])} updated, "
        f"{len(r['unchanged'])} unchanged."
    )


@stakeholder_app.command("list")
def stakeholder_list(
    project: ProjectOpt = "default",
    fmt: FormatOpt = "table",
    out: OutOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """List the stakeholders."""
    store = _open(database, project)
    df = store.list_stakeholders(project, details=True)
    if fmt == "table" and out is None:
        df = df.select(
            "stakeholder_id",
            "name",
            "kind",
            "organisation",
            "email",
            "countries",
            "sites",
            "expertise",
            "version",
        )
    _write_frame(df, fmt, out, title=f"{df.height} stakeholders in {project!r}")


# =================================================================================================
# a2p commit
# =================================================================================================
@commit_app.command("add")
def commit_add(
    stakeholder: Annotated[str, typer.Argument(help="Stakeholder id or name.")],
    action: Annotated[str, typer.Argument(help="Conservation action code (scheme 2.0), e.g. 2.2 or 3.4.1.")],
    taxon: Annotated[str | None, typer.Option("--taxon", "-t", help="Taxon id or scientific name.")] = None,
    cluster: Annotated[str | None, typer.Option("--cluster", help="Cluster id (a2p clusters).")] = None,
    place: Annotated[str, typer.Option(help="Where (site id, country, area).")] = "",
    due: Annotated[str | None, typer.Option(help="Due date YYYY-MM-DD.")] = None,
    status: Annotated[str, typer.Option(help="proposed | active | done | dropped")] = "proposed",
    note: Annotated[str | None, typer.Option(help="First progress note.")] = None,
    project: ProjectOpt = "default",
    user: UserOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """A stakeholder signs up for a conservation action for a species and/or a cluster."""
    store = _open(database, project)
    c = store.sign_up(
        project,
        stakeholder,
        action,
        taxon=taxon,
        cluster_id=cluster,
        place=place,
        due_date=_date_opt(due, "--due"),
        status=status,
        note=note,
        user=user or _whoami(),
    )
    _say(
        f"Commitment {c['commitment_id']}: {c['stakeholder_name']} - {c['action_code']} "
        f"{c['action_name']} ({c['status']})."
    )


@commit_app.command("update")
def commit_update(
    commitment_id: Annotated[str, typer.Argument(help="Commitment id (C1, C2, ...).")],
    status: Annotated[str | None, typer.Option(help="proposed | active | done | dropped")] = None,
    note: Annotated[str | None, typer.Option(help="Progress note.")] = None,
    due: Annotated[str | None, typer.Option(help="New due date YYYY-MM-DD.")] = None,
    place: Annotated[str | None, typer.Option(help="New place.")] = None,
    expect_version: Annotated[
        int | None,
        typer.Option(
            "--version",
            help="The version you saw (a2p commit list); refused if it changed since. "
            "Default: the current one.",
        ),
    ] = None,
    project: ProjectOpt = "default",
    user: UserOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Report progress on a commitment (status, note, due date)."""
    store = _open(database, project)
    version = (
        expect_version
        if expect_version is not None
        else store.get_commitment(project, commitment_id)["version"]
    )
    c = store.update_commitment(
        project,
        commitment_id,
        expected_version=version,
        status=status,
        note=note,
        due_date=_date_opt(due, "--due"),
        place=place,
        user=user or _whoami(),
    )
    _say(f"Commitment {c['commitment_id']} is now {c['status']} (version {c['version']}).")


@commit_app.command("list")
def commit_list(
    project: ProjectOpt = "default",
    stakeholder: Annotated[str | None, typer.Option(help="Only this stakeholder's.")] = None,
    taxon: Annotated[str | None, typer.Option("--taxon", "-t", help="Only for this taxon.")] = None,
    status: Annotated[str | None, typer.Option(help="Only this status.")] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only overdue commitments.")] = False,
    today: Annotated[
        str | None, typer.Option(help="Date that decides what is overdue (YYYY-MM-DD; default today).")
    ] = None,
    fmt: FormatOpt = "table",
    out: OutOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """List commitments with their progress; overdue = past due and not done or dropped."""
    store = _open(database, project)
    df = store.list_commitments(
        project,
        today=_date_opt(today, "--today"),
        stakeholder=stakeholder,
        taxon=taxon,
        status=status,
        overdue_only=overdue,
    )
    if fmt == "table" and out is None:
        df = df.select(
            "commitment_id",
            "stakeholder_name",
            "taxon_id",
            "cluster_id",
            "action_code",
            "place",
            "due_date",
            "status",
            "overdue",
            "progress",
            "version",
        )
    _write_frame(df, fmt, out, title=f"{df.height} commitments in {project!r}")


@commit_app.command("export")
def commit_export(
    out: Annotated[Path, typer.Option("--out", "-o", help="CSV file of proposed 'actions in place' updates.")],
    project: ProjectOpt = "default",
    status: Annotated[
        list[str] | None,
        typer.Option(
            "--status",
            help="Commitments with this status (repeatable; default done; add active for ongoing programmes).",
        ),
    ] = None,
    include_unchanged: Annotated[
        bool, typer.Option("--include-unchanged", help="Also fields that already say Yes.")
    ] = False,
    fmt: Annotated[str, typer.Option("--format", help="csv | json")] = "csv",
    database: DatabaseOpt = None,
) -> None:
    """Export the commitments as proposed 'conservation actions in place' (SIS InPlace fields) for
    the next assessments."""
    if fmt not in ("csv", "json"):
        raise A2PError(f"unknown export format {fmt!r}; use csv or json")
    store = _open(database, project)
    df = store.commitments_as_actions_in_place(
        project, statuses=tuple(status or ("done",)), include_unchanged=include_unchanged
    )
    _write_frame(df, fmt, out)


# =================================================================================================
# a2p decide
# =================================================================================================
def _decide(
    decision: str,
    taxon: str,
    bucket: str,
    reason: str | None,
    project: str,
    user: str | None,
    database: str | None,
) -> None:
    if not reason or not reason.strip():
        raise A2PError("give a --reason: it is recorded with the decision")
    store = _open(database, project)
    d = store.decide_bucket(project, taxon, bucket, decision, reason, user=user or _whoami())
    _say(
        f"Decision {d['decision_id']}: {decision} {d['bucket']} for {d['scientific_name'] or d['taxon_id']} "
        f"(undo: a2p decide undo {d['decision_id']})."
    )


BucketArg = Annotated[str, typer.Argument(help="single_species | site_based | threat_based | ex_situ")]
TaxonArg = Annotated[str, typer.Argument(help="Taxon id or scientific name.")]
ReasonOpt = Annotated[str | None, typer.Option(help="Why (required; recorded).")]


def _decision_command(decision: str, doc: str):  # noqa: ANN202 - a Typer command
    def command(
        taxon: TaxonArg,
        bucket: BucketArg,
        reason: ReasonOpt = None,
        project: ProjectOpt = "default",
        user: UserOpt = None,
        database: DatabaseOpt = None,
    ) -> None:
        _decide(decision, taxon, bucket, reason, project, user, database)

    command.__doc__ = doc
    command.__name__ = f"decide_{decision}"
    return command


for _decision, _doc in (
    ("accept", "Accept a suggested bucket for a species."),
    ("reject", "Reject a suggested bucket for a species."),
    ("add", "Put a species in a bucket by hand."),
):
    decide_app.command(_decision)(_decision_command(_decision, _doc))


@decide_app.command("undo")
def decide_undo(
    decision_id: Annotated[str, typer.Argument(help="Decision number (a2p decide log).")],
    reason: Annotated[str, typer.Option(help="Why (recorded).")] = "",
    project: ProjectOpt = "default",
    user: UserOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Undo a decision (it stays in the log, marked undone)."""
    store = _open(database, project)
    d = store.undo_decision(project, decision_id, reason=reason, user=user or _whoami())
    _say(
        f"Decision {d['decision_id']} ({d['decision']} {d['bucket']} for "
        f"{d['scientific_name'] or d['taxon_id']}) undone."
    )


@decide_app.command("log")
def decide_log(
    project: ProjectOpt = "default",
    taxon: Annotated[str | None, typer.Option("--taxon", "-t", help="Only this taxon.")] = None,
    fmt: FormatOpt = "table",
    out: OutOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Every bucket decision: who, when, why, and undone ones."""
    store = _open(database, project)
    df = store.decision_log(project, taxon=taxon)
    _write_frame(df, fmt, out, title=f"{df.height} bucket decisions in {project!r}")


# =================================================================================================
# a2p flags
# =================================================================================================
@flags_app.command("outdated")
def flags_outdated(
    project: ProjectOpt = "default",
    years: Annotated[int, typer.Option(help="Older than this many years.")] = 10,
    today: Annotated[str | None, typer.Option(help="Reference date YYYY-MM-DD (default: today).")] = None,
    user: UserOpt = None,
    fmt: FormatOpt = "table",
    out: OutOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Flag for re-assessment every species whose latest assessment is more than --years old
    (species already flagged as outdated are left as they are)."""
    store = _open(database, project)
    df = store.flag_outdated(project, years=years, today=_date_opt(today, "--today"), user=user or _whoami())
    if fmt == "table" and out is None:
        df = df.select("flag_id", "taxon_id", "scientific_name", "reason")
    _write_frame(df, fmt, out, title=f"{df.height} species newly flagged as outdated in {project!r}")


@flags_app.command("list")
def flags_list(
    project: ProjectOpt = "default",
    all_: Annotated[bool, typer.Option("--all", help="Include cleared flags.")] = False,
    fmt: FormatOpt = "table",
    out: OutOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Species flagged for re-assessment."""
    store = _open(database, project)
    df = store.list_flags(project, include_cleared=all_)
    if fmt == "table" and out is None:
        df = df.select("flag_id", "taxon_id", "scientific_name", "reason", "made_at", "cleared_by")
    _write_frame(df, fmt, out, title=f"{df.height} re-assessment flags in {project!r}")


@flags_app.command("clear")
def flags_clear(
    flag_id: Annotated[str | None, typer.Argument(help="Flag number (a2p flags list).")] = None,
    taxon: Annotated[
        str | None, typer.Option("--taxon", "-t", help="Clear every open flag of this taxon instead.")
    ] = None,
    reason: Annotated[str, typer.Option(help="Why (recorded), e.g. 're-assessed 2026'.")] = "",
    project: ProjectOpt = "default",
    user: UserOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Clear a re-assessment flag (kept, with who cleared it and why)."""
    store = _open(database, project)
    ids = store.clear_flag(project, flag_id, taxon=taxon, reason=reason, user=user or _whoami())
    _say(f"{len(ids)} flag(s) cleared: {', '.join(ids)}")


# =================================================================================================
# a2p clusters / triage / suggest (pure planning functions over the project's latest assessments)
# =================================================================================================
def _csv(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _level(value: int) -> int | None:
    return None if value <= 0 else value


def _impact(value: str) -> str | None:
    return None if value.strip().lower() in ("any", "none", "all", "") else value.strip().capitalize()


def _planning_inputs(database: str | None, project: str):  # noqa: ANN202
    store = _open(database, project)
    aset = store.load_set(project)
    links = store.site_links(project)
    return store, aset, links


def clusters_cmd(
    project: ProjectOpt = "default",
    by: Annotated[
        str, typer.Option(help="Place kinds, comma-separated: country, subnational, lme, fao, site, country_habitat.")
    ] = "country,lme,site,country_habitat",
    min_impact: Annotated[
        str, typer.Option(help="Least threat impact: Low, Medium (the major threats), High, or any.")
    ] = "Medium",
    level: Annotated[int, typer.Option(help="Roll codes up to this level (0: as recorded).")] = 2,
    min_size: Annotated[int, typer.Option(help="Smallest cluster (species).")] = 2,
    categories: Annotated[str, typer.Option(help="Categories of the species clustered.")] = "CR,EN,VU",
    actions: Annotated[
        bool, typer.Option("--actions", help="Cluster by action needed x place ('same need, same place').")
    ] = False,
    focal: Annotated[
        str | None, typer.Option(help="Species sharing the threats of this focal species (taxon id or name).")
    ] = None,
    cluster: Annotated[str | None, typer.Option(help="Show the members of this cluster id.")] = None,
    members: Annotated[bool, typer.Option("--members", help="One row per member (with its reason).")] = False,
    scope: Annotated[str, typer.Option(help="Assessment scope.")] = "Global",
    limit: Annotated[int | None, typer.Option(help="Show at most this many rows.")] = None,
    fmt: FormatOpt = "table",
    out: OutOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Species that share a threat (or need the same action) in the same place, with the reason each
    member is in; or, with --focal, the species sharing a focal species' threats."""
    from assess2plan import planning

    _, aset, links = _planning_inputs(database, project)
    common = dict(categories=_csv(categories), site_links=links, scope=scope or None)
    if focal:
        df = planning.shared_threats(
            aset, focal, by=_csv(by), min_impact=_impact(min_impact), threat_level=_level(level), **common
        )
        title = f"{df.height} species sharing threats with {focal}"
    else:
        if actions:
            c = planning.action_clusters(aset, by=_csv(by), action_level=_level(level), min_size=min_size, **common)
        else:
            c = planning.threat_clusters(
                aset, by=_csv(by), min_impact=_impact(min_impact), threat_level=_level(level), min_size=min_size, **common
            )
        if cluster:
            df = c.members_of(cluster)
            if df.height == 0:
                raise A2PError(f"no cluster {cluster!r} with these settings (see `a2p clusters` for the ids)")
            title = f"{df.height} members of {cluster}"
        elif members:
            df = c.members
            title = f"{df.height} memberships in {c.clusters.height} clusters"
        else:
            df = c.clusters
            title = f"{df.height} clusters"
    total = df.height
    if limit is not None:
        df = df.head(limit)
        title += f" (first {df.height} of {total})" if total > df.height else ""
    _write_frame(df, fmt, out, title)


def triage_cmd(
    project: ProjectOpt = "default",
    rules: Annotated[
        Path | None, typer.Option(help="Your own rules file (copy of the bundled planning/data/triage.toml).")
    ] = None,
    include: Annotated[str | None, typer.Option(help="Also triage these categories: NT,DD.")] = None,
    bucket: Annotated[
        str | None, typer.Option(help="Only this bucket: single_species, site_based, threat_based, ex_situ.")
    ] = None,
    status: Annotated[
        str | None, typer.Option(help="Only these statuses: suggested,accepted,rejected,added.")
    ] = None,
    summary: Annotated[bool, typer.Option("--summary", help="Counts per bucket and status.")] = False,
    list_rules: Annotated[bool, typer.Option("--rules-list", help="List the rules and stop.")] = False,
    scope: Annotated[str, typer.Option(help="Assessment scope.")] = "Global",
    limit: Annotated[int | None, typer.Option(help="Show at most this many rows.")] = None,
    fmt: FormatOpt = "table",
    out: OutOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Every threatened species in one or more of the four planning buckets, with the rule, reason
    and evidence; facilitators' decisions (`a2p decide`) applied on top."""
    from assess2plan import planning

    if list_rules:
        _write_frame(planning.rules_frame(rules), fmt, out, "triage rules")
        return
    store, aset, links = _planning_inputs(database, project)
    assignments = planning.triage(aset, rules, include=_csv(include), site_links=links, scope=scope or None)
    decisions = store.bucket_decisions(project)
    df = planning.apply_decisions(assignments, decisions, taxa=aset.latest(scope or ""))
    orphans = planning.orphan_decisions(assignments, decisions, taxa=aset.latest(scope or ""))
    if bucket:
        if bucket not in planning.BUCKETS:
            raise A2PError(f"unknown bucket {bucket!r}; use one of {', '.join(planning.BUCKETS)}")
        df = df.filter(pl.col("bucket") == bucket)
    if status:
        df = df.filter(pl.col("status").is_in(_csv(status)))
    if summary:
        _write_frame(planning.bucket_summary(df), fmt, out, "planning buckets")
    else:
        total = df.height
        title = f"{total} bucket assignments for {df['taxon_id'].n_unique()} species"
        if limit is not None and total > limit:
            df = df.head(limit)
            title += f" (first {limit})"
        _write_frame(df, fmt, out, title)
    if orphans.height:
        err.print(
            f"{orphans.height} decisions concern species no longer triaged in this project (kept, not applied)",
            highlight=False,
        )


def suggest_cmd(
    project: ProjectOpt = "default",
    cluster: Annotated[str | None, typer.Option(help="A cluster id (see `a2p clusters`).")] = None,
    bucket: Annotated[str | None, typer.Option(help="A planning bucket.")] = None,
    site: Annotated[str | None, typer.Option(help="A site id.")] = None,
    actions: Annotated[bool, typer.Option("--actions", help="The cluster is an action cluster.")] = False,
    min_impact: Annotated[str, typer.Option(help="As for `a2p clusters`.")] = "Medium",
    limit: Annotated[int, typer.Option(help="Suggest at most this many.")] = 10,
    fmt: FormatOpt = "table",
    out: OutOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Who should take a cluster, a bucket or a site forward: stakeholders (by country, site,
    expertise) and the Red List assessors of its species, each with the reason."""
    from assess2plan import planning

    if sum(x is not None for x in (cluster, bucket, site)) != 1:
        raise A2PError("give one of --cluster, --bucket or --site")
    store, aset, links = _planning_inputs(database, project)
    people = store.list_stakeholders(project)
    experts = planning.experts_from_credits(aset)
    if cluster:
        if actions or cluster.startswith("action:"):
            c = planning.action_clusters(aset, site_links=links, min_size=1)
        else:
            c = planning.threat_clusters(aset, site_links=links, min_impact=_impact(min_impact), min_size=1)
        if c.members_of(cluster).height == 0:
            raise A2PError(f"no cluster {cluster!r} (see `a2p clusters` for the ids)")
        df = planning.suggest_for_cluster(people, c, cluster, aset, experts, limit=limit)
        what = f"cluster {cluster}"
    elif bucket:
        assignments = planning.apply_decisions(
            planning.triage(aset, site_links=links), store.bucket_decisions(project)
        )
        df = planning.suggest_for_bucket(people, assignments, bucket, aset, experts, limit=limit)
        what = f"bucket {bucket}"
    else:
        df = planning.suggest_for_site(people, site, links, store.list_sites(project), aset, experts, limit=limit)
        what = f"site {site}"
    _write_frame(df, fmt, out, f"{df.height} suggested stakeholders for {what}")


# =================================================================================================
# a2p report / datasheet
# =================================================================================================
def _report_data(database: str | None, project: str, conditions: list[str] | None, title: str | None, today):  # noqa: ANN001, ANN202
    from assess2plan import planning
    from assess2plan.checks import check_frame
    from assess2plan.report import ReportData
    from assess2plan.sheet import parse_query, planning_sheet

    store, aset, links = _planning_inputs(database, project)
    sheet = planning_sheet(aset, parse_query(conditions)) if conditions else None
    buckets = planning.apply_decisions(
        planning.triage(aset, site_links=links), store.bucket_decisions(project), taxa=aset.latest()
    )
    return ReportData(
        aset,
        title=title or f"Planning workshop report: {project}",
        project=project,
        sheet=sheet,
        findings=check_frame(aset, today=today),
        buckets=buckets,
        clusters=planning.threat_clusters(aset, site_links=links),
        stakeholders=store.list_stakeholders(project),
        commitments=store.list_commitments(project, today=today),
        exsitu=store.list_exsitu_assessments(project),
        sites=store.list_sites(project),
        site_links=links,
        events=store.list_events(project),
        today=today,
    )


def report_cmd(
    conditions: Annotated[
        list[str] | None, typer.Argument(help="Sheet filters selecting the species (as for `a2p sheet`).")
    ] = None,
    project: ProjectOpt = "default",
    out: Annotated[Path, typer.Option("--out", "-o", help="report.pdf or report.html")] = Path("report.pdf"),
    title: Annotated[str | None, typer.Option(help="Title on the first page.")] = None,
    today: Annotated[str | None, typer.Option(help="Date for overdue commitments and old assessments.")] = None,
    database: DatabaseOpt = None,
) -> None:
    """The workshop report for stakeholders (PDF or HTML, by the file's suffix): statistics by
    category, threat, action and country, charts, maps, buckets, clusters, stakeholders and
    commitments, open findings."""
    from assess2plan.report import workshop_report

    fmt = out.suffix.lower().lstrip(".")
    if fmt not in ("pdf", "html"):
        raise A2PError(f"--out {out}: the report is written as .pdf or .html")
    data = _report_data(database, project, conditions, title, _date_opt(today, "--today"))
    path = workshop_report(data, out, format=fmt)
    _say(f"Wrote {path}")


def datasheet_cmd(
    taxon: Annotated[str, typer.Argument(help="Taxon id or scientific name.")],
    project: ProjectOpt = "default",
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="NAME.pdf, .html or .json (default: JSON to the terminal)")
    ] = None,
    today: Annotated[str | None, typer.Option(help="Date for overdue commitments.")] = None,
    database: DatabaseOpt = None,
) -> None:
    """One species' datasheet: its record, buckets with reasons, clusters, commitments,
    stakeholders and experts, open findings (PDF and HTML for people, JSON for machines)."""
    from assess2plan.report import datasheet, datasheet_record

    data = _report_data(database, project, None, None, _date_opt(today, "--today"))
    if out is None:
        _dump(datasheet_record(data, taxon))
        return
    fmt = out.suffix.lower().lstrip(".")
    if fmt not in ("pdf", "html", "json"):
        raise A2PError(f"--out {out}: a datasheet is written as .pdf, .html or .json")
    _say(f"Wrote {datasheet(data, taxon, out, format=fmt)}")


# =================================================================================================
# a2p sensitive
# =================================================================================================
def _taxa_args(taxa: list[str] | None, file: Path | None) -> list[str]:
    from assess2plan.species import read_taxa_list

    values = list(taxa or [])
    if file is not None:
        values += [v for _, v in read_taxa_list(file)]
    if not values:
        raise A2PError("name the taxa (taxon ids, assessment ids or full names) or give --file")
    return values


@sensitive_app.command("add")
def sensitive_add(
    taxa: Annotated[list[str] | None, typer.Argument(help="Taxon ids, assessment ids or full names.")] = None,
    file: Annotated[Path | None, typer.Option("--file", help="A file listing taxa, one per line.")] = None,
    reason: Annotated[str, typer.Option(help="Why (required; recorded).")] = "",
    project: ProjectOpt = "default",
    user: UserOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Mark taxa sensitive (web pages, API and exports then hide their precise locations from users
    without permission)."""
    store = _open(database, project)
    df = store.flag_sensitive(project, _taxa_args(taxa, file), reason, user=user or _whoami())
    _say(f"{df.height} taxa newly flagged sensitive in {project!r}")


@sensitive_app.command("remove")
def sensitive_remove(
    taxa: Annotated[list[str] | None, typer.Argument(help="Taxon ids, assessment ids or full names.")] = None,
    file: Annotated[Path | None, typer.Option("--file", help="A file listing taxa, one per line.")] = None,
    reason: Annotated[str, typer.Option(help="Why (required; recorded).")] = "",
    project: ProjectOpt = "default",
    user: UserOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Take the sensitive mark off taxa (kept in the record with who, when and why)."""
    store = _open(database, project)
    ids = store.unflag_sensitive(project, _taxa_args(taxa, file), reason, user=user or _whoami())
    _say(f"{len(ids)} taxa no longer sensitive: {', '.join(ids)}")


@sensitive_app.command("list")
def sensitive_list(
    project: ProjectOpt = "default",
    fmt: FormatOpt = "table",
    out: OutOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """The sensitive taxa of the project, with who flagged them, when and why."""
    store = _open(database, project)
    df = store.list_sensitive(project)
    _write_frame(df, fmt, out, title=f"{df.height} sensitive taxa in {project!r}")
