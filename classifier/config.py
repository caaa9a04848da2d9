"""The service's configuration: environment variables with documented defaults (see README)."""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULTS = {
    "LAKSA_MODEL_DIR": str(ROOT / "models"),  # a models root (serves its PROMOTED version) or one model directory
    "LAKSA_DATABASE_URL": f"sqlite:///{ROOT / 'var' / 'laksa.db'}",
    "LAKSA_API_KEYS": "",
    "LAKSA_MAX_TEXT_CHARS": 10_000,
    "LAKSA_MAX_BATCH": 100,
    "LAKSA_MAX_BODY_BYTES": 2 * 1024 * 1024,
    "LAKSA_MODEL_POLL_SECONDS": 2.0,
    "LAKSA_SECRET_KEY": None,
    "LAKSA_MIGRATE": "1",  # bring the schema up to date at start-up; "0" where a deploy step does it
    # Operators
    "LAKSA_REGISTRY_DIR": str(ROOT / "data" / "registry"),
    "LAKSA_CLAIM_SECONDS": 600,  # how long an operator's claim on a queued complaint lasts
    "LAKSA_SECURE_COOKIES": "1",  # "0" only to sign in over plain HTTP (local development, tests)
    "LAKSA_SESSION_HOURS": 12.0,  # a sign-in ends after this long without a request (a shift)
    "LAKSA_LOGIN_RATE": "5 per minute",  # failed operator sign-ins allowed per client IP
    "LAKSA_RATELIMIT_STORAGE_URI": "memory://",  # per process; e.g. redis://host:6379 to share it
    # Routing health (drift.py): past these limits a week is flagged
    "LAKSA_DRIFT_MAX": 0.25,
    "LAKSA_REVIEW_SHARE_MAX": 0.5,
    "LAKSA_OVERRIDE_RATE_MAX": 0.3,
    "LAKSA_OVERRIDE_MIN_COUNT": 10,
}


def load_config(overrides: dict | None = None) -> dict:
    """Each setting from `overrides`, else the environment, else its default, typed like the default."""
    config = {}
    for name, default in DEFAULTS.items():
        value = (overrides or {}).get(name, os.environ.get(name, default))
        if isinstance(default, (int, float)) and value is not None:
            try:
                value = type(default)(value)
            except ValueError:
                raise ValueError(f"{name}={value!r}: expected {'an integer' if isinstance(default, int) else 'a number'}")\
                    from None
        config[name] = value
    return config
