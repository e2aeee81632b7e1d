"""Alembic environment and revisions for the newsclf schema (run via ``schema.db.upgrade``)."""
