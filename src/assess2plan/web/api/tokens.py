"""API tokens: ``Authorization: Bearer <token>`` for the REST API.

A token acts as its user, with the user's role in each project. Only the SHA-256 hash of a token
is stored (``webapp.ApiToken.key_hash``): the token itself is shown once, when it is made, and
cannot be recovered afterwards (make a new one and revoke the old one). Tokens are told apart by
their ``prefix`` (the first 12 characters, e.g. ``a2p_Xy3kP9qZ``), which is stored in clear and
shown in lists. A revoked token stays in the list (who had it, until when) but no longer works.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from assess2plan.errors import A2PError

__all__ = ["PREFIX_LENGTH", "create_token", "hash_token", "list_tokens", "revoke", "verify"]

#: every token starts with this (easy to spot in a leaked file or a secret scanner)
TOKEN_START = "a2p_"
#: characters of the token kept in clear to tell tokens apart
PREFIX_LENGTH = 12
#: how often ``last_used_at`` is written (not on every request)
LAST_USED_EVERY = timedelta(minutes=1)


def hash_token(token: str) -> str:
    """SHA-256 hex digest of a token: the only form in which it is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(user: Any, name: str = "") -> str:
    """Make a new token for ``user`` (a Django user) named ``name`` (what it is for: "R notebook",
    "nightly export"); returns the token in clear. Show it once: only its hash is kept."""
    from assess2plan.web.app.models import ApiToken

    if user is None or not getattr(user, "pk", None):
        raise A2PError("a token needs an existing user")
    if not user.is_active:
        raise A2PError(f"user {user.get_username()!r} is not active: no token can be made for it")
    name = (name or "").strip()
    if len(name) > 100:
        raise A2PError("the token name is longer than 100 characters")
    with transaction.atomic():
        while True:
            token = TOKEN_START + secrets.token_urlsafe(32)
            prefix = token[:PREFIX_LENGTH]
            if not ApiToken.objects.filter(prefix=prefix).exists():
                break
        ApiToken.objects.create(user=user, name=name, prefix=prefix, key_hash=hash_token(token))
    return token


def verify(token: str | None) -> Any | None:
    """The active user a token belongs to, or None (unknown, revoked, or the user is inactive).
    Notes when the token was last used (at most once a minute)."""
    from assess2plan.web.app.models import ApiToken

    if not token or not token.startswith(TOKEN_START) or len(token) > 200:
        return None
    t = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=hash_token(token.strip()), revoked_at__isnull=True)
        .first()
    )
    if t is None or not t.user.is_active:
        return None
    now = timezone.now()
    if t.last_used_at is None or now - t.last_used_at > LAST_USED_EVERY:
        ApiToken.objects.filter(pk=t.pk).update(last_used_at=now)
    return t.user


def revoke(prefix: str, *, user: Any | None = None) -> Any:
    """Revoke the token whose prefix is ``prefix`` (of ``user`` only, when given: people revoke
    their own tokens). Returns the ``ApiToken``. Raises ``A2PError`` when no token (or more than
    one) has that prefix, or when it is revoked already."""
    from assess2plan.web.app.models import ApiToken

    p = (prefix or "").strip()
    if not p:
        raise A2PError("give the prefix of the token to revoke (see a2p token list)")
    qs = ApiToken.objects.filter(prefix=p[:PREFIX_LENGTH]) if len(p) >= PREFIX_LENGTH else None
    if qs is None:
        qs = ApiToken.objects.filter(prefix__startswith=p)
    if user is not None:
        qs = qs.filter(user=user)
    found = list(qs.select_related("user")[:2])
    if not found:
        raise A2PError(f"no token with the prefix {p!r}" + (" among yours" if user is not None else ""))
    if len(found) > 1:
        raise A2PError(f"more than one token starts with {p!r}: give the whole prefix")
    t = found[0]
    if t.revoked_at is not None:
        raise A2PError(f"token {t.prefix} was revoked already ({t.revoked_at:%Y-%m-%d %H:%M} UTC)")
    t.revoked_at = timezone.now()
    t.save(update_fields=["revoked_at"])
    return t


def list_tokens(user: Any | None = None) -> list[Any]:
    """Tokens (``ApiToken`` rows, newest first) of ``user``, or of everyone."""
    from assess2plan.web.app.models import ApiToken

    qs = ApiToken.objects.select_related("user").order_by("-created_at", "-id")
    if user is not None:
        qs = qs.filter(user=user)
    return list(qs)
