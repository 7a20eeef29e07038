"""What the pages and the API compute from a whole project — the working set, its findings, its
planning buckets, its clusters — computed once per *data version* and kept in this process.

The data version changes whenever something these results depend on changes: an import (a new
dataset), a workshop edit or its undo, a site link made or removed. Bucket decisions are applied
on every call (they are cheap and must show at once). Results are shared by all requests of the
process (a lock makes concurrent requests wait for one computation instead of each computing).
Every function calls the same pure functions as the CLI (``checks.check_frame``,
``planning.triage``, ``planning.threat_clusters``...).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import date
from typing import Any

import polars as pl
from django.db.models import Count, Max

from assess2plan import store
from assess2plan.model import AssessmentSet

#: projects kept in memory per process (a working set of 150,000 assessments takes ~2 GB)
KEEP = 2

_lock = threading.RLock()
_cache: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()


def data_version(slug: str, *, using: str = "default") -> tuple:
    """A value that changes whenever the project's assessments or site links change."""
    from assess2plan.web.store.models import Dataset, Edit, SiteLink

    ds = Dataset.objects.using(using).filter(project__slug=slug).aggregate(n=Count("id"), m=Max("id"))
    ed = Edit.objects.using(using).filter(project__slug=slug).aggregate(n=Count("id"), m=Max("id"))
    ln = (
        SiteLink.objects.using(using)
        .filter(site__project__slug=slug)
        .aggregate(n=Count("id"), m=Max("made_at"), r=Max("removed_at"))
    )
    return (ds["n"], ds["m"], ed["n"], ed["m"], ln["n"], ln["m"], ln["r"])


def _entry(slug: str, using: str) -> dict[str, Any]:
    version = data_version(slug, using=using)
    key = (using, slug)
    with _lock:
        entry = _cache.get(key)
        if entry is None or entry["version"] != version:
            entry = {"version": version}
            _cache[key] = entry
        _cache.move_to_end(key)
        while len(_cache) > KEEP:
            _cache.popitem(last=False)
        return entry


def _memo(slug: str, using: str, name: str, compute: Callable[[], Any]) -> Any:
    entry = _entry(slug, using)
    with _lock:  # one computation at a time; the others wait and reuse it
        if name not in entry:
            entry[name] = compute()
        return entry[name]


def forget(slug: str | None = None) -> None:
    """Drop what is kept (for one project, or all): the next call recomputes."""
    with _lock:
        for key in [k for k in _cache if slug is None or k[1] == slug]:
            del _cache[key]


def project_set(slug: str, *, using: str = "default") -> AssessmentSet:
    """The project's working set (every assessment, ``store.load_set``)."""
    return _memo(slug, using, "set", lambda: store.load_set(slug, using=using))


def site_links(slug: str, *, using: str = "default") -> pl.DataFrame:
    return _memo(slug, using, "links", lambda: store.site_links(slug, using=using))


def project_findings(slug: str, *, today: date | None = None, using: str = "default") -> pl.DataFrame:
    """The consistency findings of the project (``checks.check_frame`` with the default rules)."""
    from assess2plan.checks import check_frame

    key = f"findings:{today or date.today()}"
    return _memo(slug, using, key, lambda: check_frame(project_set(slug, using=using), today=today))


def raw_buckets(slug: str, *, using: str = "default") -> pl.DataFrame:
    """The planning buckets the triage rules give, before facilitators' decisions."""
    from assess2plan import planning

    return _memo(
        slug,
        using,
        "triage",
        lambda: planning.triage(project_set(slug, using=using), site_links=site_links(slug, using=using)),
    )


def project_buckets(slug: str, *, using: str = "default") -> pl.DataFrame:
    """The planning buckets with the facilitators' decisions applied (as ``a2p triage`` shows them)."""
    from assess2plan import planning

    aset = project_set(slug, using=using)
    return planning.apply_decisions(
        raw_buckets(slug, using=using), store.bucket_decisions(slug, using=using), taxa=aset.latest()
    )


def project_clusters(
    slug: str,
    *,
    actions: bool = False,
    min_impact: str | None = "Medium",
    using: str = "default",
    **kwargs: Any,
) -> Any:
    """Threat clusters (``planning.threat_clusters``; a ``Clusters`` with ``.clusters`` and
    ``.members``) or, with ``actions``, action clusters; ``kwargs`` as those functions take."""
    from assess2plan import planning

    key = f"clusters:{actions}:{min_impact}:{sorted(kwargs.items())}"

    def compute() -> Any:
        aset = project_set(slug, using=using)
        links = site_links(slug, using=using)
        if actions:
            return planning.action_clusters(aset, site_links=links, **kwargs)
        return planning.threat_clusters(aset, site_links=links, min_impact=min_impact, **kwargs)

    return _memo(slug, using, key, compute)
