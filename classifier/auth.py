"""Intake guards: the X-API-Key header, checked against LAKSA_API_KEYS and stored keys, and a JSON body."""
from __future__ import annotations

import hmac

from flask import Flask, g, request

from .db import find_api_key, hash_key
from .errors import ApiError
from .inputs import json_body

INTAKE_PATH = "/predict"


def is_intake(path: str) -> bool:
    """/predict and /predict/...; /predictions/... belongs to the operators."""
    return path == INTAKE_PATH or path.startswith(INTAKE_PATH + "/")


def install_api_keys(app: Flask, env_keys: str) -> None:
    # Compared as bytes: compare_digest refuses str with non-ASCII characters, which a header can hold.
    configured = {key.strip().encode() for key in env_keys.split(",") if key.strip()}

    @app.before_request
    def _require_api_key():
        if not is_intake(request.path):
            return None
        key = request.headers.get("X-API-Key", "")
        if not key:
            raise ApiError(401, "missing_api_key", "send your key in the X-API-Key header",
                           [{"field": "X-API-Key", "problem": "missing"}])
        if any(hmac.compare_digest(key.encode(), known) for known in configured):
            g.api_key_name = f"env:{hash_key(key)[:8]}"
            return None
        name = find_api_key(app.extensions["laksa_sessions"], key)
        if name is None:
            raise ApiError(401, "invalid_api_key", "the X-API-Key is not valid",
                           [{"field": "X-API-Key", "problem": "unknown or revoked key"}])
        g.api_key_name = name
        return None

    @app.before_request
    def _require_json_body():
        if request.method == "POST" and is_intake(request.path) and json_body(request) is None:
            raise ApiError(400, "invalid_json", "the body must be a JSON object (Content-Type: application/json)",
                           [{"field": "body", "problem": "not valid JSON"}])
