"""Intake authentication: the X-API-Key header, checked against LAKSA_API_KEYS and stored keys."""
from __future__ import annotations

import hmac

from flask import Flask, g, request

from .db import find_api_key, hash_key
from .errors import ApiError

PROTECTED_PREFIX = "/predict"  # /predict and /predict/...; /predictions/... belongs to the operators


def install_api_keys(app: Flask, env_keys: str) -> None:
    configured = {key.strip() for key in env_keys.split(",") if key.strip()}

    @app.before_request
    def _require_api_key():
        if request.path != PROTECTED_PREFIX and not request.path.startswith(PROTECTED_PREFIX + "/"):
            return None
        key = request.headers.get("X-API-Key", "")
        if not key:
            raise ApiError(401, "missing_api_key", "send your key in the X-API-Key header",
                           [{"field": "X-API-Key", "problem": "missing"}])
        if any(hmac.compare_digest(key, known) for known in configured):
            g.api_key_name = f"env:{hash_key(key)[:8]}"
            return None
        name = find_api_key(app.extensions["laksa_sessions"], key)
        if name is None:
            raise ApiError(401, "invalid_api_key", "the X-API-Key is not valid",
                           [{"field": "X-API-Key", "problem": "unknown or revoked key"}])
        g.api_key_name = name
        return None
