"""The newsclf database: models, engine and sessions, migrations, bulk writes, views.

    from newsclf.schema.db import make_engine, session_factory, upgrade
    from newsclf.schema.store import upsert_articles, insert_predictions, register_model_version

Nothing here connects at import time: callers create engines and sessions.
"""
