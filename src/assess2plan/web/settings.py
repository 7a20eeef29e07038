"""Django settings of assess2plan.

Everything comes from the environment; nothing secret lives in the repository.

``A2P_HOME``
    Folder for per-user state (default ``~/.assess2plan``; created when missing). Holds the default
    SQLite store ``a2p.sqlite3`` and the generated ``secret_key``.
``A2P_DATABASE_URL``
    The store's database: ``sqlite:///relative/or//absolute/path.sqlite3`` (``sqlite:///:memory:``
    for a throw-away store) or ``postgres://user:password@host:port/dbname`` (``postgresql://``
    works too; ``?sslmode=require`` and other query parameters become connection options).
    Default: SQLite at ``$A2P_HOME/a2p.sqlite3``.
``A2P_SECRET_KEY``
    Django's secret key. Default: a random key generated once into ``$A2P_HOME/secret_key``.
``A2P_TEST_POSTGRES_URL``
    When set, a second database alias ``"postgres"`` pointing there (the test suite runs every
    store test on it as well as on SQLite).
``A2P_DEBUG``
    ``1`` to turn Django's DEBUG on.
``A2P_SECURE_COOKIES``
    ``1`` when the web app is served over HTTPS: session and CSRF cookies become ``Secure``.
``A2P_CONN_MAX_AGE``
    Seconds a PostgreSQL connection is kept for the next request (default 0; the production
    entry point ``assess2plan.web.wsgi`` uses 60).
"""

from __future__ import annotations

import os
import secrets
from importlib.util import find_spec
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

__all__ = ["parse_database_url", "a2p_home"]


def a2p_home() -> Path:
    """The per-user state folder (``$A2P_HOME``, default ``~/.assess2plan``), created if absent."""
    home = Path(os.environ.get("A2P_HOME") or Path.home() / ".assess2plan").expanduser()
    home.mkdir(parents=True, exist_ok=True)
    return home


def _sqlite(name: str) -> dict:
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": name,
        "OPTIONS": {
            # WAL: readers (web app) keep working while an import writes. 16 KiB pages (for a new
            # file; no-op on an existing one) suit the long narrative texts of assessments.
            "init_command": "PRAGMA page_size=16384; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
            # Take the write lock at BEGIN: concurrent imports queue instead of failing half-way.
            "transaction_mode": "IMMEDIATE",
            # Seconds a writer waits for another writer's lock before "database is locked".
            "timeout": 60,
        },
    }


def parse_database_url(url: str) -> dict:
    """Django ``DATABASES`` entry for a database URL.

    >>> parse_database_url("postgres://a2p:pw@db.example:5433/store")["PORT"]
    '5433'
    >>> parse_database_url("sqlite:////var/lib/a2p/store.sqlite3")["NAME"]
    '/var/lib/a2p/store.sqlite3'
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("sqlite", "sqlite3"):
        # sqlite:///relative.db -> "relative.db"; sqlite:////abs/path.db -> "/abs/path.db"
        path = unquote(url.split("://", 1)[1])
        if path.startswith("/"):
            path = path[1:]
        if path in ("", ":memory:"):
            path = ":memory:"
        return _sqlite(path)
    if scheme in ("postgres", "postgresql", "pgsql", "postgis"):
        options = dict(parse_qsl(parts.query))
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.lstrip("/")) or "postgres",
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": unquote(parts.hostname or ""),
            "PORT": str(parts.port or ""),
            "OPTIONS": options,
            # seconds a connection is kept between requests (a web server sets it: a new
            # PostgreSQL connection per request costs a server process start)
            "CONN_MAX_AGE": int(os.environ.get("A2P_CONN_MAX_AGE") or 0),
            "CONN_HEALTH_CHECKS": True,
        }
    raise ValueError(
        f"unsupported database URL {url!r}: use sqlite:///path or postgres://user:pass@host:port/db"
    )


def _secret_key(home: Path) -> str:
    key = os.environ.get("A2P_SECRET_KEY")
    if key:
        return key
    path = home / "secret_key"
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    key = secrets.token_urlsafe(50)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(key)
    return key


A2P_HOME = a2p_home()

BASE_DIR = Path(__file__).resolve().parent
SECRET_KEY = _secret_key(A2P_HOME)
DEBUG = os.environ.get("A2P_DEBUG", "").lower() in ("1", "true", "yes")
ALLOWED_HOSTS = [h for h in os.environ.get("A2P_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",") if h]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "assess2plan.web.store",
    "assess2plan.web.app",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # static files (htmx, CSS, the map) served by the app itself, in any deployment (no CDN)
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# The web app's URLs, once that module exists (the store works without it).
if find_spec("assess2plan.web.urls") is not None:
    ROOT_URLCONF = "assess2plan.web.urls"

_url = os.environ.get("A2P_DATABASE_URL")
DATABASES = {"default": parse_database_url(_url) if _url else _sqlite(str(A2P_HOME / "a2p.sqlite3"))}
_test_pg = os.environ.get("A2P_TEST_POSTGRES_URL")
if _test_pg:
    DATABASES["postgres"] = parse_database_url(_test_pg)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en"
USE_I18N = True
STATIC_URL = "static/"
# WhiteNoise serves the apps' static folders directly (no collectstatic step needed)
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# One cache shared by every process serving the store (gunicorn workers, several hosts): log-in
# failure counts (the rate limit) and computed sheet facet counts. A table in the store's database
# (created with the store's tables).
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "a2p_cache",
        "OPTIONS": {"MAX_ENTRIES": 20000},
    }
}

# -- web application (assess2plan.web.app) ----------------------------------------------------------
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "projects"
LOGOUT_REDIRECT_URL = "login"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = 12 * 3600  # one workshop day
# Behind HTTPS (a reverse proxy) set A2P_SECURE_COOKIES=1: cookies are then sent over HTTPS only.
# Off by default because ``a2p serve`` speaks plain HTTP on the workshop's own machine.
SECURE_COOKIES = os.environ.get("A2P_SECURE_COOKIES", "").lower() in ("1", "true", "yes")
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
if SECURE_COOKIES:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
DATA_UPLOAD_MAX_MEMORY_SIZE = 50 * 1024 * 1024
