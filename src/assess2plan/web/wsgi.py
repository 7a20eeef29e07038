"""WSGI entry point of the web application, for a production-style server:

    a2p serve --prepare-only                      # create/upgrade the tables, first administrator
    gunicorn assess2plan.web.wsgi -w 4 --threads 4 -b 0.0.0.0:8000

Settings come from the environment (``A2P_DATABASE_URL``, ``A2P_HOME``, ``A2P_SECRET_KEY``,
``A2P_ALLOWED_HOSTS``, ``A2P_SECURE_COOKIES``; see ``assess2plan.web.settings``). Static files are
served by the application itself (WhiteNoise), so no web server configuration is needed for them.
"""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "assess2plan.web.settings")

application = get_wsgi_application()
