"""The tokens page (/tokens/): make, list and revoke one's own API tokens.

A new token is shown once, in the answer to the form that made it (never stored in clear, never
put in a message or a cookie); the list shows each token's prefix, name, when it was made and
last used, and whether it is revoked."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from assess2plan.errors import A2PError
from assess2plan.web.api import tokens as api_tokens


def _context(request: HttpRequest, **extra: object) -> dict:
    return {"tokens": api_tokens.list_tokens(request.user), "new_token": None, "error": None, **extra}


@login_required
@require_http_methods(["GET", "POST"])
def tokens(request: HttpRequest) -> HttpResponse:
    """GET: the list and the form; POST: make a token (``name``) and show it once."""
    if request.method == "GET":
        return render(request, "a2p/tokens.html", _context(request))
    name = request.POST.get("name", "").strip()
    try:
        token = api_tokens.create_token(request.user, name)
    except A2PError as e:
        return render(request, "a2p/tokens.html", _context(request, error=str(e), name=name), status=400)
    response = render(request, "a2p/tokens.html", _context(request, new_token=token, new_name=name))
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def revoke_token(request: HttpRequest) -> HttpResponse:
    """Revoke one of the user's own tokens (by prefix)."""
    prefix = request.POST.get("prefix", "")
    try:
        t = api_tokens.revoke(prefix, user=request.user)
    except A2PError as e:
        return render(request, "a2p/tokens.html", _context(request, error=str(e)), status=400)
    messages.success(request, f"Token {t.prefix}… revoked: it no longer works.")
    return redirect("tokens")
