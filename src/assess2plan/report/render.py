"""Rendering machinery shared by the workshop report and the datasheets: Jinja2 templates (HTML
escaped by default), the embedded stylesheet, and HTML -> PDF with WeasyPrint that never fetches
anything from outside the document (no network, no local files: everything is embedded)."""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from markupsafe import Markup

from assess2plan.errors import A2PError
from assess2plan.report.data import DARK_CATEGORIES, category_colour, category_label
from assess2plan.text import sanitise_html


@cache
def environment():
    """The Jinja2 environment of the report templates (autoescaping on)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("assess2plan.report", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.globals.update(
        colour=category_colour,
        dark=lambda code: code in DARK_CATEGORIES,
        label=category_label,
    )
    env.filters["narrative"] = lambda text: Markup(sanitise_html(text))
    env.filters["num"] = lambda n: "" if n is None else f"{n:,}"
    env.filters["pct"] = lambda x: "" if x is None else f"{x:.0f} %"
    env.filters["join_codes"] = lambda xs, sep=", ": sep.join(str(x) for x in (xs or []))
    return env


@cache
def stylesheet() -> str:
    return (
        resources.files("assess2plan.report").joinpath("templates", "report.css").read_text(encoding="utf-8")
    )


def render_html(template: str, context: dict[str, Any]) -> str:
    """Render ``template`` with ``context`` (the stylesheet is added as ``css``)."""
    return environment().get_template(template).render(css=Markup(stylesheet()), **context)


def _fetcher():
    """A WeasyPrint URL fetcher that only resolves ``data:`` URIs (the report embeds everything)."""
    try:
        from weasyprint.urls import URLFetcher

        return URLFetcher(allowed_protocols={"data"})
    except (ImportError, TypeError):  # WeasyPrint < 66: a plain function
        from weasyprint import default_url_fetcher

        def fetch(url: str, *args: Any, **kwargs: Any):
            if not url.startswith("data:"):
                raise ValueError(f"external resource refused: {url}")
            return default_url_fetcher(url, *args, **kwargs)

        return fetch


def write_pdf(html: str, out_path: str | Path) -> Path:
    """Lay ``html`` out as an A4 PDF at ``out_path`` (WeasyPrint)."""
    try:
        import weasyprint
    except OSError as exc:  # the pango libraries are missing
        raise A2PError(
            f"PDF output needs the Pango libraries ({exc}); on Debian/Ubuntu: "
            "apt-get install libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core"
        ) from exc
    out = Path(out_path)
    weasyprint.HTML(string=html, url_fetcher=_fetcher(), base_url=None).write_pdf(out)
    return out


def write_text(text: str, out_path: str | Path) -> Path:
    out = Path(out_path)
    out.write_text(text, encoding="utf-8")
    return out


def check_format(fmt: str, allowed: tuple[str, ...]) -> str:
    f = (fmt or "").lower().lstrip(".")
    if f not in allowed:
        raise A2PError(f"unknown format {fmt!r}; use one of {', '.join(allowed)}")
    return f


def check_out_path(out_path: str | Path) -> Path:
    out = Path(out_path)
    if out.exists() and out.is_dir():
        raise A2PError(f"{out} is a folder; give a file name for the report")
    if not out.parent.exists():
        raise A2PError(f"folder {out.parent} does not exist")
    return out
