"""The service: `create_app()` wires configuration, blueprints, error handling and metrics.

Configuration comes from the environment (see README): LAKSA_MODEL_DIR, LAKSA_DATABASE_URL,
LAKSA_API_KEYS, LAKSA_MAX_TEXT_CHARS, LAKSA_MAX_BATCH, LAKSA_MAX_BODY_BYTES, LAKSA_SECRET_KEY.
Run it with `gunicorn -c gunicorn.conf.py 'classifier.serve:create_app()'`.
"""
from __future__ import annotations

import os
from pathlib import Path

from flask_openapi3 import Info, OpenAPI

from .api import api
from .auth import install_api_keys
from .db import make_engine, make_sessionmaker, upgrade
from .errors import install_error_handlers
from .metrics import install_metrics, set_model_version
from .models_store import ModelHolder

ROOT = Path(__file__).resolve().parent.parent
DEFAULTS = {
    "LAKSA_MODEL_DIR": str(ROOT / "models" / "default"),
    "LAKSA_DATABASE_URL": f"sqlite:///{ROOT / 'var' / 'laksa.db'}",
    "LAKSA_API_KEYS": "",
    "LAKSA_MAX_TEXT_CHARS": 10_000,
    "LAKSA_MAX_BATCH": 100,
    "LAKSA_MAX_BODY_BYTES": 2 * 1024 * 1024,
    "LAKSA_SECRET_KEY": None,
    "LAKSA_MIGRATE": "1",  # bring the schema up to date at start-up; "0" where a deploy step does it
}


def load_config(overrides: dict | None = None) -> dict:
    config = {}
    for name, default in DEFAULTS.items():
        value = (overrides or {}).get(name, os.environ.get(name, default))
        config[name] = type(default)(value) if isinstance(default, int) and value is not None else value
    return config


def create_app(overrides: dict | None = None) -> OpenAPI:
    config = load_config(overrides)
    app = OpenAPI(__name__, info=Info(title="LAKSA complaint router", version="1"),
                  security_schemes={"api_key": {"type": "apiKey", "in": "header", "name": "X-API-Key"}},
                  doc_prefix="/docs", validation_error_status=422)
    app.config.update(config, MAX_CONTENT_LENGTH=config["LAKSA_MAX_BODY_BYTES"], JSON_SORT_KEYS=False,
                      SECRET_KEY=config["LAKSA_SECRET_KEY"] or os.urandom(32))
    app.add_url_rule("/openapi.json", "openapi_json", lambda: app.api_doc)

    url = config["LAKSA_DATABASE_URL"]
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    if config["LAKSA_MIGRATE"] == "1":
        upgrade(url)
    app.extensions["laksa_sessions"] = make_sessionmaker(make_engine(url))
    holder = ModelHolder(config["LAKSA_MODEL_DIR"])
    app.extensions["laksa_models"] = holder
    set_model_version(holder.current().version)

    install_error_handlers(app)
    install_api_keys(app, config["LAKSA_API_KEYS"])
    install_metrics(app)
    app.register_api(api)
    return app
