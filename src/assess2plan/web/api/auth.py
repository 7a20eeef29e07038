"""Who calls the API: a token (``Authorization: Bearer a2p_...``) or the browser's logged-in session.

* A valid token makes the request act as the token's user (``request.user``), with that user's role
  in each project; an unknown or revoked token is refused (401) even when a session cookie is sent
  too, so a script never silently acts as someone else.
* Without an ``Authorization`` header, the Django session of a logged-in user is accepted (the pages
  call the API this way); unsafe methods (POST, PATCH) then need the CSRF token (``X-CSRFToken``
  header), exactly like a form post. Token requests need no CSRF token (no cookie is involved).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja.errors import AuthenticationError, HttpError
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf

from assess2plan.web.api import tokens


class TokenAuth(HttpBearer):
    """``Authorization: Bearer <token>`` (tokens made on /tokens/ or with ``a2p token create``)."""

    def __call__(self, request: HttpRequest) -> Any | None:
        header = request.headers.get("Authorization")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer":
            return None  # another scheme (e.g. a proxy's Basic auth): not ours, the session may do
        if not token.strip():
            raise AuthenticationError(401, "the Authorization header must be: Bearer <token>")
        return self.authenticate(request, token.strip())

    def authenticate(self, request: HttpRequest, token: str) -> Any | None:
        user = tokens.verify(token)
        if user is None:
            # refused outright: do not fall back to a session cookie sent along with a bad token
            raise AuthenticationError(401, "unknown or revoked token")
        request.user = user
        return user


class SessionAuth(APIKeyCookie):
    """The logged-in session of the web pages; unsafe methods need the CSRF token."""

    param_name: str = settings.SESSION_COOKIE_NAME

    def __init__(self) -> None:
        super().__init__(csrf=True)

    def _get_key(self, request: HttpRequest) -> str | None:
        return request.COOKIES.get(self.param_name)

    def authenticate(self, request: HttpRequest, key: str | None) -> Any | None:
        user = getattr(request, "user", None)
        if key is None or user is None or not user.is_authenticated:
            return None
        if check_csrf(request):  # a response means the check failed (safe methods always pass)
            raise HttpError(403, "CSRF check failed: send the X-CSRFToken header with the page's token")
        return user
