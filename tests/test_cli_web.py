"""``a2p serve``: migrate, first administrator, Django's server with our static files; checked end to
end over HTTP in a child process (its own store in a temporary folder)."""

from __future__ import annotations

import http.cookiejar
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from assess2plan.examples import example_path

A2P = [sys.executable, "-c", "from assess2plan.cli import main; main()"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_serve(env: dict, *args: str) -> tuple[subprocess.Popen, str]:
    """Start ``a2p serve ARGS`` and read what it prints up to its address line; (process, output)."""
    port = _free_port()
    proc = subprocess.Popen(
        [*A2P, "serve", "--port", str(port), *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    out = ""
    while "Ctrl+C" not in out:
        line = proc.stdout.readline()
        if not line:
            proc.wait(timeout=20)
            raise AssertionError(f"server stopped: {out}")
        out += line
    return proc, out


@pytest.mark.django_db(transaction=True)
def test_ensure_admin_only_once():
    from django.contrib.auth.models import User

    from assess2plan.web.app.setup import ensure_admin

    User.objects.create_user("admin", password="x")  # an ordinary user with the name
    user, password = ensure_admin()
    assert user.startswith("admin-") and len(password) >= 16
    u = User.objects.get(username=user)
    assert u.is_superuser and u.check_password(password)
    assert ensure_admin() is None


def test_serve_end_to_end(tmp_path):
    env = {**os.environ, "A2P_HOME": str(tmp_path / "home"), "COLUMNS": "200"}
    env.pop("A2P_DATABASE_URL", None)
    db = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    subprocess.run(
        [*A2P, "import", str(example_path() / "download"), "-p", "lakeland", "--database", db],
        env=env, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    proc, out = start_serve(env, "--database", db)
    try:
        m = re.search(r"administrator (\S+) with password (\S+)", out)
        assert m, out
        user, password = m.groups()
        port = re.search(r"http://localhost:(\d+)/", out).group(1)
        base = f"http://127.0.0.1:{port}"
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        for _ in range(100):  # the socket opens just after the banner
            try:
                page = opener.open(f"{base}/login/", timeout=5).read().decode()
                break
            except OSError:
                time.sleep(0.1)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        data = urllib.parse.urlencode({"username": user, "password": password, "csrfmiddlewaretoken": token})
        req = urllib.request.Request(
            f"{base}/login/", data=data.encode(), headers={"Referer": f"{base}/login/"}
        )
        home = opener.open(req, timeout=10).read().decode()
        assert 'href="/p/lakeland/"' in home  # the administrator sees every project
        sheet = opener.open(f"{base}/p/lakeland/?q=category%3DCR", timeout=30).read().decode()
        assert re.search(r"of \d+ taxa", sheet)
        js = opener.open(f"{base}/static/a2p/htmx.min.js", timeout=10).read()
        assert b"htmx" in js and len(js) > 10_000
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    # second start: no new administrator, no password shown
    proc, out = start_serve(env, "--database", db)
    try:
        assert "password" not in out
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_production_server_gunicorn_shared_rate_limit(tmp_path):
    """The documented production run: ``a2p serve --prepare-only`` then gunicorn with several worker
    processes; static files come from the app; the log-in rate limit is shared by the workers (the
    cache is a table of the store), so spreading attempts over workers does not get round it."""
    env = {**os.environ, "A2P_HOME": str(tmp_path / "home"), "COLUMNS": "200"}
    db = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    env["A2P_DATABASE_URL"] = db
    out = subprocess.run([*A2P, "serve", "--prepare-only"], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert re.search(r"administrator (\S+) with password (\S+)", out.stdout) and "gunicorn" in out.stdout
    port = _free_port()
    gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    proc = subprocess.Popen(
        [gunicorn, "assess2plan.web.wsgi", "-w", "3", "-b", f"127.0.0.1:{port}", "--reuse-port"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{base}/login/", timeout=5).read()
                break
            except OSError:
                time.sleep(0.1)
        js = urllib.request.urlopen(f"{base}/static/a2p/htmx.min.js", timeout=10).read()
        assert b"htmx" in js and len(js) > 10_000
        statuses = []
        for _ in range(7):  # a new connection each time: the attempts spread over the workers
            jar = http.cookiejar.CookieJar()
            opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
            page = opener.open(f"{base}/login/", timeout=10).read().decode()
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
            data = urllib.parse.urlencode({"username": "mallory", "password": "guess", "csrfmiddlewaretoken": token})
            req = urllib.request.Request(f"{base}/login/", data=data.encode(), headers={"Referer": f"{base}/login/"})
            try:
                statuses.append(opener.open(req, timeout=10).status)
            except urllib.error.HTTPError as e:
                statuses.append(e.code)
        assert statuses[:5] == [200] * 5 and statuses[5:] == [429, 429], statuses
    finally:
        proc.terminate()
        proc.wait(timeout=20)
