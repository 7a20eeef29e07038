"""Django project of assess2plan: settings and the ``store`` app (the database behind the CLI and web app)."""
