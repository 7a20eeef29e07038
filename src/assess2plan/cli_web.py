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
    app.add_typer(token_app, name="token")


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
    from assess2plan.web.app.views import warm_up

    warm_up()
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


# -- a2p token: API tokens for the REST API (/api/v1/) ----------------------------------------------
token_app = typer.Typer(
    help="API tokens for the REST API at /api/v1/ (send as: Authorization: Bearer <token>).",
    no_args_is_help=True,
)


def _web_user(username: str):  # noqa: ANN202 - a Django user
    from django.contrib.auth import get_user_model

    from assess2plan.errors import A2PError

    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise A2PError(f"no user {username!r} (users are made at /admin/ or by a2p serve)")
    return user


@token_app.command("create")
def token_create_cmd(
    user: Annotated[str, typer.Argument(help="User name the token acts as (with that user's roles).")],
    name: Annotated[str, typer.Option("--name", help="What the token is for (shown in lists).")] = "",
    database: DatabaseOpt = None,
) -> None:
    """Make a token for USER and print it. It is shown only this once: only its hash is stored."""
    _store(database)
    from assess2plan.cli import err
    from assess2plan.web.api.tokens import create_token

    token = create_token(_web_user(user), name)
    typer.echo(token)
    err.print(
        f"Token for {user!r} made (prefix {token[:12]}). Copy it now: it cannot be shown again.",
        highlight=False,
        soft_wrap=True,
    )


@token_app.command("list")
def token_list_cmd(
    user: Annotated[str | None, typer.Argument(help="Only this user's tokens (default: everyone's).")] = None,
    database: DatabaseOpt = None,
) -> None:
    """List tokens: prefix, user, name, made, last used, revoked (never the tokens themselves)."""
    _store(database)
    from rich.table import Table

    from assess2plan.web.api.tokens import list_tokens

    rows = list_tokens(_web_user(user) if user else None)
    table = Table(title=f"{len(rows)} API tokens")
    for c in ("prefix", "user", "name", "created", "last used", "revoked"):
        table.add_column(c)

    def when(t) -> str:  # noqa: ANN001
        return t.strftime("%Y-%m-%d %H:%M UTC") if t else ""

    for t in rows:
        user = t.user.get_username()
        table.add_row(t.prefix, user, t.name, when(t.created_at), when(t.last_used_at), when(t.revoked_at))
    console.print(table)


@token_app.command("revoke")
def token_revoke_cmd(
    prefix: Annotated[str, typer.Argument(help="The token's prefix (a2p token list), or the whole token.")],
    database: DatabaseOpt = None,
) -> None:
    """Revoke a token: it stops working at once (it stays in the list, marked revoked)."""
    _store(database)
    from assess2plan.web.api.tokens import revoke

    t = revoke(prefix)
    console.print(f"Revoked token {t.prefix} of {t.user.get_username()!r}.", highlight=False)
