"""The web application of assess2plan (issue 5): log-in, project membership and roles, and
server-rendered pages (HTMX, no CDN) over the public store API ``assess2plan.store``.

Pages never read the store's tables themselves: they call ``assess2plan.store`` (``query_sheet``,
``sheet_count``, ``sheet_facets``, ``load_set``, ``edit_actions`` ...), exactly as the CLI does.
Who may see and do what is decided in ``assess2plan.web.app.access``.
"""
