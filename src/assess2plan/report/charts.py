"""Charts of the workshop report, drawn with matplotlib (Agg backend, no display needed).

Each chart function returns a matplotlib ``Figure``; :func:`svg` turns it into SVG text that can
be placed inline in an HTML page (ids made unique per chart, text drawn as paths so no font is
needed to view it) and :func:`png_data_uri` into an embedded PNG.
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg", force=False)

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from assess2plan.report.data import category_colour, category_rank  # noqa: E402

#: Colours of series that are not categories.
SERIES = {"all": "#9fb7c9", "threatened": "#d81e05", "major": "#7a1c10", "needed": "#2b7bb9"}
_STYLE = {
    "font.size": 8,
    "font.family": "DejaVu Sans",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 9,
    "svg.fonttype": "path",
    "svg.hashsalt": "assess2plan",
}


def _figure(width: float, height: float) -> Figure:
    with plt.rc_context(_STYLE):
        return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _short(label: str, n: int = 42) -> str:
    return label if len(label) <= n else label[: n - 1] + "…"


def category_bars(rows: Sequence[dict[str, Any]]) -> Figure:
    """Species per Red List category (rows of ``ReportData.category_counts``), bars coloured by category."""
    with plt.rc_context(_STYLE):
        fig = _figure(6.4, 0.22 * max(len(rows), 3) + 0.6)
        ax = fig.add_subplot()
        labels = [f"{r['label']} ({r['code']})" for r in rows][::-1]
        values = [r["species"] for r in rows][::-1]
        colours = [r["colour"] for r in rows][::-1]
        bars = ax.barh(labels, values, color=colours, edgecolor="#555555", linewidth=0.5)
        ax.bar_label(bars, padding=2, fontsize=7)
        ax.set_xlabel("species")
        ax.margins(x=0.12)
    return fig


def coded_bars(rows: Sequence[dict[str, Any]], *, major: bool = False, top: int = 20) -> Figure:
    """Species per level-1 class (threats, actions needed): all species, threatened ones and, for
    threats, species with a major (Medium/High Impact) threat in the class."""
    rows = sorted(rows, key=lambda r: -r["species"])[:top]
    with plt.rc_context(_STYLE):
        fig = _figure(6.4, 0.32 * max(len(rows), 3) + 1.0)
        ax = fig.add_subplot()
        labels = [_short(f"{r['code']} {r['name']}") for r in rows][::-1]
        y = list(range(len(rows)))
        h = 0.27 if major else 0.4
        ax.barh(
            [i + h for i in y],
            [r["species"] for r in rows][::-1],
            height=h,
            color=SERIES["all"],
            label="all species",
        )
        ax.barh(
            y,
            [r["threatened"] for r in rows][::-1],
            height=h,
            color=SERIES["threatened"],
            label="threatened (CR, EN, VU)",
        )
        if major:
            ax.barh(
                [i - h for i in y],
                [r.get("major", 0) for r in rows][::-1],
                height=h,
                color=SERIES["major"],
                label="with a major threat (Medium/High Impact)",
            )
        ax.set_yticks(y, labels)
        ax.set_xlabel("species")
        ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), fontsize=7, frameon=False, ncol=3)
    return fig


def country_stack(rows: Sequence[dict[str, Any]], categories: Sequence[str]) -> Figure:
    """Species per country (top rows of ``ReportData.place_counts``) stacked by category."""
    cats = sorted(categories, key=category_rank)
    with plt.rc_context(_STYLE):
        fig = _figure(6.4, 0.28 * max(len(rows), 3) + 1.0)
        ax = fig.add_subplot()
        labels = [_short(f"{r['name']} ({r['code']})", 34) for r in rows][::-1]
        left = [0] * len(rows)
        for c in cats:
            vals = [r.get(c, 0) or 0 for r in rows][::-1]
            ax.barh(
                labels, vals, left=left, color=category_colour(c), edgecolor="#555555", linewidth=0.3, label=c
            )
            left = [a + b for a, b in zip(left, vals, strict=True)]
        ax.set_xlabel("species")
        ax.legend(
            loc="lower left", bbox_to_anchor=(0.0, 1.0), fontsize=7, frameon=False, ncol=min(len(cats), 8)
        )
    return fig


_ID = re.compile(r'\bid="([^"]+)"')


def svg(fig: Figure, prefix: str) -> str:
    """The figure as inline SVG text: no XML prologue, ids (and the references to them) prefixed
    with ``prefix`` so several charts can share one HTML page."""
    buf = io.StringIO()
    with plt.rc_context(_STYLE):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    start = text.find("<svg")
    text = text[start:] if start >= 0 else text
    ids = set(_ID.findall(text))
    if ids:
        text = _ID.sub(lambda m: f'id="{prefix}-{m.group(1)}"', text)
        text = re.sub(
            r"url\(#([^)]+)\)",
            lambda m: f"url(#{prefix}-{m.group(1)})" if m.group(1) in ids else m.group(0),
            text,
        )
        text = re.sub(
            r'(xlink:href|href)="#([^"]+)"',
            lambda m: f'{m.group(1)}="#{prefix}-{m.group(2)}"' if m.group(2) in ids else m.group(0),
            text,
        )
    # scale with the page: drop the fixed size, keep the viewBox
    text = re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r'<svg\1 class="chart"', text, count=1)
    return text


def png_data_uri(fig: Figure, dpi: int = 150) -> str:
    """The figure as a ``data:image/png;base64,...`` URI (for PDF pages)."""
    buf = io.BytesIO()
    with plt.rc_context(_STYLE):
        fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
