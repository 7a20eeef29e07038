"""Log-in with a simple rate limit: after ``MAX_FAILURES`` failed attempts for one user name, or
``MAX_FAILURES_PER_ADDRESS`` from one client address (a workshop room shares one), within
``WINDOW`` seconds, further attempts are refused (429) until the window ends. Counts live in
Django's cache, a table in the store's database: every process serving the store (gunicorn
workers, several hosts) shares them."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse

MAX_FAILURES = 5
MAX_FAILURES_PER_ADDRESS = 50
WINDOW = 300


def _keys(request: HttpRequest) -> dict[str, int]:
    """Counter keys of this attempt and their limits."""
    ip = request.META.get("REMOTE_ADDR", "?")
    user = (request.POST.get("username") or "").strip().lower()
    keys = {f"a2p-login-ip:{ip}": MAX_FAILURES_PER_ADDRESS}
    if user:
        keys[f"a2p-login-user:{user}"] = MAX_FAILURES
    return keys


def _blocked(request: HttpRequest) -> bool:
    return any((cache.get(k) or 0) >= limit for k, limit in _keys(request).items())


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if _blocked(request):
            form = self.get_form()
            form.errors.clear()
            form.add_error(None, f"Too many failed log-ins; try again in {WINDOW // 60} minutes.")
            response = self.render_to_response(self.get_context_data(form=form))
            response.status_code = 429
            return response
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):  # noqa: ANN001, ANN201
        for k in _keys(self.request):
            cache.add(k, 0, WINDOW)
            try:
                cache.incr(k)
            except ValueError:  # expired between add and incr
                cache.set(k, 1, WINDOW)
        return super().form_invalid(form)
