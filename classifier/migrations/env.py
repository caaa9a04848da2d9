"""Alembic environment: the URL comes from the caller (classifier.db.upgrade) or LAKSA_DATABASE_URL.

Several processes may upgrade one database at once (two hosts starting together, each with
LAKSA_MIGRATE=1): each upgrade is one transaction that first takes a database-wide lock, so the
others wait for it and then find the schema up to date.
"""
import os

from alembic import context
from sqlalchemy import engine_from_config, event, pool, text

from classifier.db import Base

MIGRATION_LOCK = 0x4C414B5341  # "LAKSA": PostgreSQL's advisory lock key for schema upgrades

config = context.config
url = config.get_main_option("sqlalchemy.url") or os.environ.get("LAKSA_DATABASE_URL", "sqlite:///var/laksa.db")
config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))

connectable = engine_from_config({"sqlalchemy.url": url}, prefix="sqlalchemy.", poolclass=pool.NullPool)
if connectable.dialect.name == "sqlite":
    # pysqlite runs DDL outside any transaction; our own BEGIN EXCLUSIVE makes the upgrade one.
    @event.listens_for(connectable, "connect")
    def _no_implicit_transactions(dbapi_connection, _record):
        dbapi_connection.isolation_level = None

    @event.listens_for(connectable, "begin")
    def _begin_exclusive(connection):
        connection.exec_driver_sql("BEGIN EXCLUSIVE")

with connectable.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        context.run_migrations()
