"""The newsclf database: models, engine and sessions, migrations, bulk writes, views.

    from newsclf.schema.db import make_engine, session_factory, upgrade
    from newsclf.schema.articles import upsert_articles    # one module per table concept

Nothing here connects at import time: callers create engines and sessions.
"""
