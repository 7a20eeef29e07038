"""``a2p serve``: the web application (issue 5) on the store, with no other set-up.

``register(app)`` adds the command to the ``a2p`` Typer app (``cli.full_app`` calls it)."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from assess2plan.cli import DatabaseOpt, _store, console

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add ``a2p serve`` to ``app``."""
    app.command("serve")(serve_cmd)


def serve_cmd(
    host: Annotated[
        str,
        typer.Option(help="Address to listen on (0.0.0.0: every interface, e.g. for the workshop room)."),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    prepare_only: Annotated[
        bool,
        typer.Option(
            "--prepare-only",
            help="Create/upgrade the tables and the first administrator, then exit (before starting "
            "a production server: gunicorn assess2plan.web.wsgi).",
        ),
    ] = False,
    database: DatabaseOpt = None,
) -> None:
    """Start the web application: creates / upgrades the tables, creates an administrator on the
    first start (its password is shown once), then serves the pages until Ctrl+C.

    Behind HTTPS set A2P_SECURE_COOKIES=1; other host names than localhost go in
    A2P_ALLOWED_HOSTS (comma-separated; listening on 0.0.0.0 allows any by default)."""
    _store(database)  # configure Django, migrate (store, auth, sessions, web app)
    from django.conf import settings
    from django.core.management import call_command

    from assess2plan.web.app.setup import ensure_admin

    created = ensure_admin()
    if created:
        user, password = created
        console.print(
            f"Created the administrator [bold]{user}[/bold] with password [bold]{password}[/bold]\n"
            "It is shown only this once: note it now (change it after logging in, at /admin/).",
            highlight=False,
            soft_wrap=True,
        )
    if prepare_only:
        console.print("Tables ready. Start a production server with: gunicorn assess2plan.web.wsgi", highlight=False)
        return
    if not os.environ.get("A2P_ALLOWED_HOSTS"):
        if host in ("0.0.0.0", "::"):
            settings.ALLOWED_HOSTS = ["*"]
        elif host not in settings.ALLOWED_HOSTS:
            settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, host]
    ipv6 = ":" in host
    addrport = f"[{host}]:{port}" if ipv6 else f"{host}:{port}"
    shown = "localhost" if host in ("127.0.0.1", "::1") else host
    console.print(f"assess2plan at http://{shown}:{port}/  (Ctrl+C to stop)", highlight=False)
    # Django's threaded server; static files (htmx, CSS) served by the staticfiles app
    call_command(
        "runserver",
        addrport,
        use_reloader=False,
        use_threading=True,
        use_ipv6=ipv6,
        insecure_serving=True,
    )
