"""The ``store`` Django app: database tables mirroring the canonical model (``assess2plan.model``).

The public API is ``assess2plan.store`` (import, load, list); this package holds the models, their
migrations and the bulk loader behind them.
"""
