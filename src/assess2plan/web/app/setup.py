"""First start of the web app: the administrator account."""

from __future__ import annotations

import secrets

ADMIN_USERNAME = "admin"


def ensure_admin(username: str = ADMIN_USERNAME) -> tuple[str, str] | None:
    """Create a superuser ``username`` with a random password when the store has no superuser yet.

    Returns ``(username, password)`` when one was created (the password is not stored in clear
    anywhere: show it once), else None."""
    from django.contrib.auth import get_user_model

    User = get_user_model()  # noqa: N806
    if User.objects.filter(is_superuser=True).exists():
        return None
    password = secrets.token_urlsafe(12)
    if User.objects.filter(username=username).exists():  # an ordinary user took the name
        username = f"{username}-{secrets.token_hex(3)}"
    User.objects.create_superuser(username, email="", password=password)
    return username, password
