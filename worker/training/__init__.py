"""Training library: pure (no app, database, Celery or web imports); runnable as `python -m worker.training`."""
