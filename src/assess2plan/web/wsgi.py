"""WSGI entry point of the web application, for a production-style server:

    a2p serve --prepare-only                      # create/upgrade the tables, first administrator
    gunicorn assess2plan.web.wsgi -w 4 -b 0.0.0.0:8000   # about 2 workers per core

Settings come from the environment (``A2P_DATABASE_URL``, ``A2P_HOME``, ``A2P_SECRET_KEY``,
``A2P_ALLOWED_HOSTS``, ``A2P_SECURE_COOKIES``; see ``assess2plan.web.settings``). Static files are
served by the application itself (WhiteNoise), so no web server configuration is needed for them.
Each worker starts reading the sheet's facet index in the background (``A2P_WARM_UP=0``: not).
"""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "assess2plan.web.settings")
# a request works on one species or one page of the sheet: polars' thread pool only adds overhead
# there, and the workers already keep the cores busy (set it to use more threads per request)
os.environ.setdefault("POLARS_MAX_THREADS", "2")
# keep database connections between requests (PostgreSQL starts a server process per connection)
os.environ.setdefault("A2P_CONN_MAX_AGE", "60")

application = get_wsgi_application()

if os.environ.get("A2P_WARM_UP", "1") != "0":
    from assess2plan.web.app.views import warm_up

    warm_up()
