"""Celery workers, batching and feed ingestion for newsclf."""
