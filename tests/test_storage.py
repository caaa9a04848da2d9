"""The schema the migrations build, and the service's SQLite write path: writers of several
processes take turns, and WAL checkpoints happen in the background, never inside a request's commit;
processes that migrate one database at once wait for each other."""
from __future__ import annotations

import multiprocessing
import time
import uuid

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, Table, create_engine, func, insert, select, text

from classifier import db
from classifier.db import Base, PredictionRecord, make_engine, new_id, upgrade, utcnow, write_transaction
from conftest import POSTGRES_ADMIN_URL

ROWS_PER_WRITER = 300


def _row() -> dict:
    return dict(id=new_id(), created_at=utcnow(), api_key="test", external_id=None, text="lampu jalan mati " * 20,
                request_metadata=None, category="pju_mati", category_confidence=0.9, opd="DISHUB",
                opd_confidence=0.9, opd_margin=0.8, alternatives={"category": [], "opd": []}, reasons=["lampu"],
                needs_review=False, model_version="test")


def test_migrations_build_the_tables_the_code_declares(database_url):
    """A column or index changed in classifier/db.py without a migration would differ here."""
    upgrade(database_url)
    engine = create_engine(database_url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert differences == []


def test_retry_keys_arrive_without_touching_earlier_predictions(database_url):
    """Before revision 0003 an external id could repeat: such predictions survive the upgrade unchanged
    (without a retry key), and only predictions stored from then on are recognised as retries."""
    config = db.alembic_config(database_url)
    command.upgrade(config, "head")
    command.downgrade(config, "0002")
    engine = create_engine(database_url)
    old_table = Table("predictions", MetaData(), autoload_with=engine)
    twice = [{**_row(), "external_id": "laksa-5"} for _ in range(2)]
    with engine.begin() as connection:
        connection.execute(insert(old_table), twice)
    try:
        command.upgrade(config, "head")
        with engine.begin() as connection:
            rows = connection.execute(select(PredictionRecord.id, PredictionRecord.retry_key)
                                      .where(PredictionRecord.external_id == "laksa-5")).all()
            assert sorted(rows) == sorted((r["id"], None) for r in twice)
            key = db.retry_key("test", "laksa-5")
            first, again = ({**_row(), "external_id": "laksa-5", "retry_key": key} for _ in range(2))
            assert db.store_predictions(connection, [first]) == 1
            assert db.store_predictions(connection, [again, {**_row(), "retry_key": None}]) == 1
    finally:
        with engine.begin() as connection:
            connection.execute(PredictionRecord.__table__.delete())
        engine.dispose()


def test_prediction_ids_follow_creation_order():
    """So each insert lands on the last page of the primary-key index, not on a random one."""
    ids = [new_id() for _ in range(2000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert {uuid.UUID(hex=i).version for i in ids} == {7}


def _write_rows(url: str, count: int) -> None:
    engine = make_engine(url, background_checkpoints=True)
    for _ in range(count):
        with write_transaction(engine) as connection:
            connection.execute(insert(PredictionRecord.__table__), [_row()])


def test_writers_in_several_processes_all_commit(tmp_path):
    url = f"sqlite:///{tmp_path / 'laksa.db'}"
    upgrade(url)
    # Forked from a fresh single-threaded process, as gunicorn's master forks its workers. Forking
    # pytest itself, where other tests' threads may hold SQLite's or our locks at that instant, once
    # left all three children waiting on a lock nobody would release.
    context = multiprocessing.get_context("forkserver")
    writers = [context.Process(target=_write_rows, args=(url, ROWS_PER_WRITER)) for _ in range(3)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=120)
    assert [writer.exitcode for writer in writers] == [0, 0, 0]
    with make_engine(url).connect() as connection:
        assert connection.scalar(select(func.count()).select_from(PredictionRecord)) == 3 * ROWS_PER_WRITER


def test_checkpoints_run_in_the_background_and_keep_the_wal_short(tmp_path, monkeypatch):
    monkeypatch.setattr(db, "WAL_RESTART_PAGES", 500)  # 2 MiB instead of 64, to see it in seconds
    database = tmp_path / "laksa.db"
    url = f"sqlite:///{database}"
    upgrade(url)
    engine = make_engine(url, background_checkpoints=True)
    with engine.connect() as connection:
        assert connection.scalar(text("PRAGMA wal_autocheckpoint")) == 0  # no commit checkpoints itself
    deadline = time.monotonic() + 3
    written = 0
    while time.monotonic() < deadline:  # continuous writes: a starved checkpoint would let the WAL grow
        with write_transaction(engine) as connection:
            connection.execute(insert(PredictionRecord.__table__), [_row()])
        written += 1
        time.sleep(0)  # a worker waits on its socket between requests; this lets other threads run
    # Every commit appends the pages it changed (about seven here: the row and its indexes) to the
    # WAL; restarted once past the limit, it holds a fraction of them, not all.
    appended = written * 6 * 4096
    wal = database.with_name(database.name + "-wal")
    assert wal.stat().st_size < appended / 2, (wal.stat().st_size, written)
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(PredictionRecord)) == written


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request, tmp_path):
    """A database of this test's own with no tables yet."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'laksa.db'}"
        return
    request.getfixturevalue("postgres_url")  # skips (or fails on CI) without PostgreSQL
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"laksa_empty_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_simultaneous_upgrades_of_an_empty_database_all_succeed(empty_database_url):
    # Two hosts starting together, each migrating at start-up: the later ones wait, then have nothing to do.
    context = multiprocessing.get_context("forkserver")
    upgrades = [context.Process(target=upgrade, args=(empty_database_url,)) for _ in range(4)]
    for process in upgrades:
        process.start()
    for process in upgrades:
        process.join(timeout=120)
    assert [process.exitcode for process in upgrades] == [0] * 4
    engine = create_engine(empty_database_url)
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    engine.dispose()
