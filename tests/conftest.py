"""Shared fixtures: the project's paths, a model trained once on the shipped data, real data if present."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REAL_DATA = ROOT.parent / "shared" / "data" / "real" / "surabaya_dev.csv"
LABELLED = ROOT / "data" / "labelled"
sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session")
def trained_model_dir(tmp_path_factory) -> Path:
    """The default model, trained once per test session from data/labelled/."""
    from classifier.train import main

    out = tmp_path_factory.mktemp("models") / "default"
    assert main(["--data", str(LABELLED), "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="session")
def trained_model(trained_model_dir):
    from classifier.models_store import load_model

    return load_model(trained_model_dir)


@pytest.fixture(scope="session")
def real_data():
    if not REAL_DATA.is_file():
        pytest.skip(f"real data not present at {REAL_DATA}")
    from classifier.dataset import load_labelled

    return load_labelled(REAL_DATA).sort_values("created_at", kind="stable").reset_index(drop=True)


def write_csv(path: Path, header: str, rows: list[str], encoding: str = "utf-8") -> Path:
    path.write_bytes(("\n".join([header, *rows]) + "\n").encode(encoding))
    return path


POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="session")
def postgres_url():
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    import os
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"laksa_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as error:
        if os.environ.get("CI"):
            raise  # CI machines run PostgreSQL: its absence is a failure, not a skip
        pytest.skip(f"PostgreSQL not reachable on 127.0.0.1:5432: {error}")
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


API_KEY = "test-intake-key"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'laksa.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def app(trained_model_dir, database_url):
    from classifier.serve import create_app

    app = create_app({"LAKSA_MODEL_DIR": str(trained_model_dir), "LAKSA_DATABASE_URL": database_url,
                      "LAKSA_API_KEYS": API_KEY, "LAKSA_MAX_BATCH": 100, "LAKSA_SECRET_KEY": "test-secret"})
    app.config["TESTING"] = True
    yield app
    _clear_tables(app)


def _clear_tables(app):
    from classifier.db import Base

    with app.extensions["laksa_sessions"].begin() as session:
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(table.delete())


@pytest.fixture
def client(app):
    return app.test_client()
