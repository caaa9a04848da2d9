"""Alembic environment: the URL comes from the caller (classifier.db.upgrade) or LAKSA_DATABASE_URL."""
import os

from alembic import context
from sqlalchemy import engine_from_config, pool

from classifier.db import Base

config = context.config
url = config.get_main_option("sqlalchemy.url") or os.environ.get("LAKSA_DATABASE_URL", "sqlite:///var/laksa.db")
config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))

connectable = engine_from_config({"sqlalchemy.url": url}, prefix="sqlalchemy.", poolclass=pool.NullPool)
with connectable.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
