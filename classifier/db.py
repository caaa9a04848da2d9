"""SQLAlchemy tables and sessions: predictions, overrides, review claims, API keys, operators.

The schema is created and changed only by the Alembic migrations in `classifier/migrations/`
(`upgrade()` below); SQLite (WAL) is the embedded default, PostgreSQL the choice for several
workers or hosts.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import secrets
import threading
import time
import weakref
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import (JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, bindparam,
                        create_engine, event, func, select)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker
from uuid6 import uuid7

logger = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def new_id() -> str:
    """A UUIDv7 in hex: it starts with the time, so a new prediction's key lands on the last page
    of the primary-key index, where a random UUID dirtied a random page with every insert (each
    one more page for the next checkpoint to copy: about a fifth of the service's throughput)."""
    return uuid7().hex


class Base(DeclarativeBase):
    type_annotation_map = {datetime: DateTime(timezone=True), dict: JSON, list: JSON}


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256 of a 256-bit random key
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class PredictionRecord(Base):
    __tablename__ = "predictions"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    api_key: Mapped[str] = mapped_column(String(100))  # key name, or "env:<first 8 hex of its hash>"
    external_id: Mapped[str | None] = mapped_column(String(200), default=None)
    retry_key: Mapped[str | None] = mapped_column(String(320), default=None, index=True, unique=True)  # see retry_key()
    text: Mapped[str] = mapped_column(Text)  # personal numbers masked before storing
    request_metadata: Mapped[dict | None] = mapped_column(default=None)
    category: Mapped[str] = mapped_column(String(100))
    category_confidence: Mapped[float] = mapped_column(Float)
    opd: Mapped[str] = mapped_column(String(50), index=True)
    opd_confidence: Mapped[float] = mapped_column(Float)
    opd_margin: Mapped[float] = mapped_column(Float)  # top-1 minus top-2 confidence: review order tie-break
    alternatives: Mapped[dict] = mapped_column()
    reasons: Mapped[list] = mapped_column()
    needs_review: Mapped[bool] = mapped_column(Boolean)  # indexed with opd_confidence (review queue)
    model_version: Mapped[str] = mapped_column(String(64))


class Operator(Base):
    __tablename__ = "operators"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))  # "operator" or "admin"
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # raised by signing out
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    disabled_at: Mapped[datetime | None]  # None while the account may sign in


class AccountEvent(Base):
    """Append-only: each change to an operator account and who made it, for the auditors."""

    __tablename__ = "account_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    username: Mapped[str] = mapped_column(String(100), index=True)  # the account changed
    action: Mapped[str] = mapped_column(String(20))  # created, disabled, enabled, password
    by: Mapped[str] = mapped_column(String(200))  # the admin, the operator themselves, or "manage.py (system user)"


class OverrideRecord(Base):
    """Append-only: an operator's confirmation or correction of a prediction."""

    __tablename__ = "overrides"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    prediction_id: Mapped[str] = mapped_column(ForeignKey("predictions.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    operator: Mapped[str] = mapped_column(String(100), index=True)
    action: Mapped[str] = mapped_column(String(10))  # "confirm" or "override"
    category: Mapped[str] = mapped_column(String(100))  # effective labels after this action
    opd: Mapped[str] = mapped_column(String(50), index=True)
    previous_category: Mapped[str] = mapped_column(String(100))
    previous_opd: Mapped[str] = mapped_column(String(50))
    reason: Mapped[str] = mapped_column(Text, default="")


class ReviewClaim(Base):
    """Who is working on a prediction in the review queue, until when."""

    __tablename__ = "review_claims"
    prediction_id: Mapped[str] = mapped_column(ForeignKey("predictions.id"), primary_key=True)
    operator: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime] = mapped_column()


Index("ix_predictions_review", PredictionRecord.needs_review, PredictionRecord.opd_confidence)


def latest_decisions():
    """Subquery (prediction_id, id) of each prediction's latest decision: its effective label."""
    return (select(OverrideRecord.prediction_id, func.max(OverrideRecord.id).label("id"))
            .group_by(OverrideRecord.prediction_id).subquery("latest"))


def with_latest_decision(query, decision):
    """`query` over predictions, outer-joined to each one's latest decision as `decision` (an alias of
    OverrideRecord), whose columns are NULL where nobody decided."""
    latest = latest_decisions()
    return (query.outerjoin(latest, latest.c.prediction_id == PredictionRecord.id)
            .outerjoin(decision, decision.id == latest.c.id))


def sent_elsewhere(decision):
    """Whether the latest decision (`with_latest_decision`) routes the prediction to another OPD: an
    overridden route, and not a confirmation, a category-only correction or an override undone."""
    return decision.opd.is_not(None) & (decision.opd != PredictionRecord.opd)


def make_engine(url: str, background_checkpoints: bool = False) -> Engine:
    """An engine for `url`. With `background_checkpoints` (the service), SQLite WAL checkpoints run
    in a thread of each process instead of inside a request's commit (see `_checkpoint_forever`)."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 15, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(connection, _record):
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
            cursor.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes in WAL mode
            cursor.execute("PRAGMA foreign_keys=ON")
            if background_checkpoints:
                cursor.execute("PRAGMA wal_autocheckpoint=0")
                _start_checkpoints(engine)
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


def _start_checkpoints(engine: Engine) -> None:
    """Once per process (a forked gunicorn worker has no threads), at its first connection."""
    with _CHECKPOINTERS_LOCK:
        if _CHECKPOINTERS.get(engine) == os.getpid():
            return
        _CHECKPOINTERS[engine] = os.getpid()
    threading.Thread(target=_checkpoint_forever, args=(weakref.ref(engine),), name="sqlite-checkpoints",
                     daemon=True).start()


def _checkpoint_forever(engine_ref, every_seconds: float = 0.5) -> None:
    """Copy the WAL into the database file, as often as needed to keep the WAL short.

    In WAL mode with synchronous=NORMAL a checkpoint is SQLite's only wait on the disk (it syncs
    both files). Left to SQLite, it runs inside the commit that crosses 1,000 WAL pages, holding
    the write lock while the disk syncs: under load every request queued behind it waited, up to
    hundreds of ms. Here each pass copies what it can while writers go on. The next writer starts
    the WAL afresh only if a copy finished while no write was under way, which under sustained
    load may never happen; so once the WAL exceeds WAL_RESTART_PAGES, a second pass takes the
    writers' turn to finish the copy: a wait of a few ms for the requests in flight, made rare by
    the limit.
    """
    while (engine := engine_ref()) is not None:
        try:
            with engine.connect() as connection:
                _, wal_pages, _ = connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
            if wal_pages > WAL_RESTART_PAGES:
                with _writer_turn(engine), engine.connect() as connection:
                    connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
        except SQLAlchemyError as error:
            logger.warning("SQLite checkpoint failed (retried in %.1f s): %s", every_seconds, error)
        del engine  # the thread ends once the engine is gone
        time.sleep(every_seconds)


WAL_RESTART_PAGES = 16_384  # 64 MiB of 4 KiB pages: a few seconds of writes at full load

_CHECKPOINTERS: "weakref.WeakKeyDictionary[Engine, int]" = weakref.WeakKeyDictionary()
_CHECKPOINTERS_LOCK = threading.Lock()


@contextlib.contextmanager
def write_transaction(engine: Engine):
    """A connection in a transaction for a hot-path write (the service's predictions).

    On SQLite the writers of a file take turns (`_WriterTurn`): a waiting writer wakes the moment
    the turn is free, where SQLite's own busy handler sleeps 1, 2, 5, ... ms between retries, which
    under concurrent load made the slowest requests tens of ms slower.
    """
    with _writer_turn(engine), engine.begin() as connection:
        yield connection


def retry_key(api_key: str, external_id: str | None) -> str | None:
    """What recognises a resent complaint: external ids are each intake system's own, so unique per API key."""
    return None if external_id is None else f"{api_key}\x1f{external_id}"


def store_predictions(connection, records: list[dict]) -> int:
    """Insert prediction rows, skipping any whose retry key is already stored; the number inserted.

    The unique index decides, so two retries of one complaint in flight at once store it once. Rows go
    in retry-key order: batches that share keys then lock them in the same order, never in a deadlock.
    """
    ordered = sorted(records, key=lambda record: record["retry_key"] or "")
    return connection.execute(_STORE[connection.dialect.name], ordered).rowcount


def stored_retries(connection, keys: list[str]) -> dict[str, dict]:
    """The stored predictions with these retry keys, by retry key."""
    return {row["retry_key"]: dict(row) for row in connection.execute(_BY_RETRY_KEY, {"keys": keys}).mappings()}


# Built once (building a statement costs more than running it). preserve_rowcount: without it,
# psycopg reports -1 rows inserted.
_STORE = {dialect: insert(PredictionRecord.__table__).on_conflict_do_nothing(index_elements=["retry_key"])
          .execution_options(preserve_rowcount=True)
          for dialect, insert in (("sqlite", sqlite_insert), ("postgresql", postgresql_insert))}
_BY_RETRY_KEY = select(PredictionRecord.__table__).where(
    PredictionRecord.retry_key.in_(bindparam("keys", expanding=True)))


class _WriterTurn:
    """One SQLite file's writers in turn: a thread lock within a process, an flock on a file beside
    the database across processes. Made in each process (see `_writer_turn`): a descriptor
    inherited across fork would share its flock with the parent."""

    def __init__(self, database: str):
        self.lock = threading.Lock()
        self.handle = open(f"{database}.writer-lock", "a+b")  # noqa: SIM115 (open for the process's life)

    @contextlib.contextmanager
    def __call__(self):
        with self.lock:
            fcntl.flock(self.handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self.handle, fcntl.LOCK_UN)


def _writer_turn(engine: Engine):
    database = engine.url.database if engine.url.get_backend_name() == "sqlite" else None
    if not database or database == ":memory:":
        return contextlib.nullcontext()
    key = (os.getpid(), database)
    with _WRITER_TURNS_LOCK:
        if key not in _WRITER_TURNS:
            _WRITER_TURNS[key] = _WriterTurn(database)
        return _WRITER_TURNS[key]()


_WRITER_TURNS: dict[tuple[int, str], _WriterTurn] = {}
_WRITER_TURNS_LOCK = threading.Lock()


def make_sessionmaker(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str):
    """Alembic's configuration for the database at `url` and this package's migrations."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str) -> None:
    """Bring the database at `url` to the newest schema with Alembic."""
    from alembic import command

    command.upgrade(alembic_config(url), "head")


def prepare(url: str, migrate: bool) -> None:
    """Make an embedded database's folder, and with `migrate` bring the schema up to date."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    if migrate:
        upgrade(url)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_api_key(sessions: sessionmaker, name: str) -> str:
    """Store a new intake key (hashed) and return it; it is shown once and never stored in clear."""
    key = secrets.token_urlsafe(32)
    with sessions.begin() as session:
        session.add(ApiKey(name=name, key_hash=hash_key(key)))
    return key


def find_api_key(sessions: sessionmaker, key: str) -> str | None:
    """The name of an active stored key, or None."""
    with sessions() as session:
        return session.scalar(select(ApiKey.name).where(ApiKey.key_hash == hash_key(key), ApiKey.revoked_at.is_(None)))
