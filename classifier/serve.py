"""The service: `create_app()` wires configuration, blueprints, error handling and metrics.

Configuration comes from the environment (see README): LAKSA_MODEL_DIR, LAKSA_DATABASE_URL,
LAKSA_API_KEYS, LAKSA_MAX_TEXT_CHARS, LAKSA_MAX_BATCH, LAKSA_MAX_BODY_BYTES, LAKSA_SECRET_KEY, and for
the operators LAKSA_REGISTRY_DIR, LAKSA_CLAIM_SECONDS, LAKSA_SECURE_COOKIES, LAKSA_SESSION_HOURS, LAKSA_LOGIN_RATE,
LAKSA_RATELIMIT_STORAGE_URI.
The registry is read at start-up and again whenever another model version is promoted.
Run it with `gunicorn -c gunicorn.conf.py 'classifier.serve:create_app()'`.
"""
from __future__ import annotations

import os
from datetime import timedelta

from flask_openapi3 import Info, OpenAPI
from limits.errors import ConfigurationError

from .api import api
from .auth import install_api_keys
from .config import load_config
from .db import make_engine, make_sessionmaker, prepare
from .errors import DataError, ErrorOut, install_error_handlers
from .inputs import install_body_limit, install_input_guard
from .metrics import install_metrics, set_model_version
from .models_store import ModelHolder
from .operators import csrf, limiter, login_manager, pages
from .registry import load_registry
from .review_api import SECURITY_SCHEMES, review_api


def create_app(overrides: dict | None = None) -> OpenAPI:
    config = load_config(overrides)
    app = OpenAPI(__name__, info=Info(title="LAKSA complaint router", version="1"),
                  security_schemes={"api_key": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                                    **SECURITY_SCHEMES},
                  doc_prefix="/docs", validation_error_status=422, validation_error_model=ErrorOut)
    app.json.sort_keys = False  # answers keep the documented field order
    app.config.update(config, MAX_CONTENT_LENGTH=config["LAKSA_MAX_BODY_BYTES"],
                      SECRET_KEY=config["LAKSA_SECRET_KEY"] or os.urandom(32),
                      SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_SECURE=config["LAKSA_SECURE_COOKIES"] == "1",
                      # Checked on the server from the cookie's signed time, renewed by every request.
                      PERMANENT_SESSION_LIFETIME=timedelta(hours=config["LAKSA_SESSION_HOURS"]),
                      WTF_CSRF_CHECK_DEFAULT=False, WTF_CSRF_TIME_LIMIT=None,  # checked by the operators' views
                      RATELIMIT_STORAGE_URI=config["LAKSA_RATELIMIT_STORAGE_URI"],
                      RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=True)  # Redis down: limits per process, not 500s
    app.add_url_rule("/openapi.json", "openapi_json", lambda: app.api_doc)

    url = config["LAKSA_DATABASE_URL"]
    prepare(url, migrate=config["LAKSA_MIGRATE"] == "1")
    app.extensions["laksa_sessions"] = make_sessionmaker(make_engine(url, background_checkpoints=True))
    app.extensions["laksa_registry"] = load_registry(config["LAKSA_REGISTRY_DIR"])
    holder = ModelHolder(config["LAKSA_MODEL_DIR"], config["LAKSA_MODEL_POLL_SECONDS"],
                         on_switch=lambda served: _switched(app, served))
    app.extensions["laksa_models"] = holder
    set_model_version(holder.current().version)

    install_error_handlers(app)
    install_api_keys(app, config["LAKSA_API_KEYS"])
    install_body_limit(app)
    install_input_guard(app)
    install_metrics(app)
    app.register_api(api)
    for extension in (login_manager, csrf):
        extension.init_app(app)
    try:
        limiter.init_app(app)
    except ConfigurationError as error:  # an unknown scheme, or one whose client library is missing
        raise ValueError(f"LAKSA_RATELIMIT_STORAGE_URI={config['LAKSA_RATELIMIT_STORAGE_URI']!r}: {error}") from None
    app.register_blueprint(pages)
    app.register_api(review_api)
    return app


def _switched(app, served) -> None:
    """A newly promoted model may come with registry edits it was trained for (a new OPD or category,
    a retired one): the operators' choices and the names in answers follow it."""
    set_model_version(served.version)
    try:
        app.extensions["laksa_registry"] = load_registry(app.config["LAKSA_REGISTRY_DIR"])
    except DataError as error:
        app.logger.error("registry not reloaded, keeping the one read before: %s", error)
