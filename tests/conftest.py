"""Shared fixtures. Real Red List data are read from ../shared/data (never copied here)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _shared_folder() -> Path:
    """``$A2P_SHARED_DATA``, else ``../shared/data`` next to this checkout, else next to the
    repository it was cloned from (a local clone made elsewhere, e.g. in a temporary folder)."""
    if os.environ.get("A2P_SHARED_DATA"):
        return Path(os.environ["A2P_SHARED_DATA"])
    here = ROOT.parent / "shared" / "data"
    if here.exists():
        return here
    import subprocess

    try:
        origin = subprocess.run(
            ["git", "-C", str(ROOT), "config", "--get", "remote.origin.url"],
            capture_output=True, text=True, timeout=10,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        origin = ""
    if origin.startswith("file://"):
        origin = origin[len("file://") :]
    if origin and Path(origin).is_dir():
        there = Path(origin).resolve().parent / "shared" / "data"
        if there.exists():
            return there
    return here


SHARED = _shared_folder()
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def shared_path(*parts: str) -> Path:
    """Path into ../shared/data; skips the test when the folder is absent (fails in CI)."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        if IN_CI:
            pytest.fail(f"real data missing in CI: {p}")
        pytest.skip(f"real data not available: {p}")
    return p


def pytest_configure(config):
    """Django settings load before any fixture: keep them out of the user's home from the start."""
    if not os.environ.get("A2P_HOME"):
        import tempfile

        os.environ["A2P_HOME"] = tempfile.mkdtemp(prefix="a2p-test-home-")


@pytest.fixture
def shared_data() -> Path:
    return shared_path()


@pytest.fixture(autouse=True)
def _a2p_home(tmp_path, monkeypatch):
    """Keep every test away from the user's own store."""
    monkeypatch.setenv("A2P_HOME", str(tmp_path / "a2p-home"))


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    """Test users' passwords hashed cheaply in this process (the real hasher is deliberately slow;
    servers started as child processes keep it)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# -- the store on SQLite and PostgreSQL ---------------------------------------------------------------
PG_URL = os.environ.get("A2P_TEST_POSTGRES_URL")


def _aliases():
    sqlite = pytest.param(
        "default", marks=pytest.mark.django_db(transaction=True, databases=["default"]), id="sqlite"
    )
    if PG_URL:
        marks = [pytest.mark.postgres, pytest.mark.django_db(transaction=True, databases=["postgres"])]
    elif IN_CI:
        marks = [pytest.mark.postgres]  # the fixture fails: CI must test PostgreSQL
    else:
        marks = [pytest.mark.postgres, pytest.mark.skip(reason="A2P_TEST_POSTGRES_URL is not set")]
    return [sqlite, pytest.param("postgres", marks=marks, id="postgres")]


@pytest.fixture(params=_aliases())
def alias(request) -> str:
    if request.param == "postgres" and not PG_URL:
        pytest.fail("CI must test the store on PostgreSQL: set A2P_TEST_POSTGRES_URL")
    return request.param
