"""Reports for people and machines: the workshop report (HTML, PDF) and per-species datasheets
(PDF, HTML, JSON).

::

    from assess2plan.report import ReportData, workshop_report, datasheet, datasheets_json
    data = ReportData(aset, title="Pacific corals — planning workshop", findings=check_frame(aset))
    workshop_report(data, "workshop.html")
    workshop_report(data, "workshop.pdf", format="pdf")
    datasheet(data, "133450", "acropora.pdf")                 # one species, PDF / HTML / JSON
    records = datasheets_json(data)                           # every species, JSON-ready dicts
    decision_report(record, "exsitu.pdf", project="Lakeland")  # an ex situ assessment's decision

PDF output uses WeasyPrint, which needs the Pango libraries (Debian: libpango-1.0-0,
libpangoft2-1.0-0) and a font (fonts-dejavu-core).
"""

from __future__ import annotations

from assess2plan.report.data import CATEGORY_COLOURS, ReportData, visible_site_links, withhold_texts
from assess2plan.report.datasheet import SCHEMA_VERSION, datasheet, datasheet_record, datasheets_json
from assess2plan.report.exsitu import decision_report, decision_report_html
from assess2plan.report.maps import CHOROPLETH_COLOURS
from assess2plan.report.workshop import report_html, workshop_report

__all__ = [
    "CATEGORY_COLOURS",
    "CHOROPLETH_COLOURS",
    "SCHEMA_VERSION",
    "ReportData",
    "datasheet",
    "datasheet_record",
    "datasheets_json",
    "decision_report",
    "decision_report_html",
    "report_html",
    "visible_site_links",
    "withhold_texts",
    "workshop_report",
]
