"""Values that one of the databases cannot store are refused at the door, with a 422 naming the field.

So is JSON nested deeper than MAX_DEPTH: the checks and the masking of metadata recurse, and
past Python's recursion limit (a few kilobytes of brackets) they, or the JSON parser, failed with a 500.

PostgreSQL's text cannot hold the NUL character and its JSON refuses NaN and Infinity (which
Flask's JSON parser accepts); neither database nor UTF-8 can hold a lone surrogate (JSON's
"\\ud800"). Let through, they failed only at the insert: a 500, or on /predict a 503 telling the
intake system to retry a complaint that could never be stored, while SQLite stored some of them.

A body over MAX_CONTENT_LENGTH is a 413 whether or not it announces its length: werkzeug stops
reading a chunked body (no Content-Length) at the limit and hands on its first bytes, whose cut
JSON was a 400 invalid_json.
"""
from __future__ import annotations

import io
import math

from flask import Flask, request
from werkzeug.wsgi import LimitedStream, get_content_length

from .errors import ApiError

MAX_DEPTH = 32  # levels of JSON nesting; intake metadata needs a few
_TOO_DEEP = [{"field": "body", "problem": f"nested more than {MAX_DEPTH} levels deep"}]


def json_body(req):
    """The request's JSON (None when it is not JSON); a 400 for JSON nested beyond what the parser takes."""
    try:
        return req.get_json(silent=True)
    except RecursionError:
        raise ApiError(400, "invalid_json", "the body is nested too deeply to read", _TOO_DEEP) from None


def too_deep(value) -> bool:
    """Whether a JSON value nests more than MAX_DEPTH levels (walked without recursion)."""
    level = [value]
    for _ in range(MAX_DEPTH + 1):
        level = [item for node in level if isinstance(node, (dict, list))
                 for item in (node.values() if isinstance(node, dict) else node)]
        if not level:
            return False
    return True


def problem(value) -> str | None:
    """Why a single value cannot be stored, or None."""
    if isinstance(value, str):
        if "\x00" in value:
            return "must not contain the NUL character (\\u0000)"
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return "must be valid Unicode (it holds a lone surrogate)"
    elif isinstance(value, float) and not math.isfinite(value):
        return "must be a finite number (not NaN or Infinity)"
    return None


def unstorable(value, field: str) -> list[dict]:
    """The {"field", "problem"} of every unstorable value in a JSON document, keys included."""
    if isinstance(value, dict):
        found = []
        for key, item in value.items():
            inner = f"{field}.{key}" if field else key
            if reason := problem(key):
                found.append({"field": inner, "problem": f"its name {reason}"})
            found += unstorable(item, inner)
        return found
    if isinstance(value, list):
        return [found for i, item in enumerate(value) for found in unstorable(item, f"{field}.{i}")]
    reason = problem(value)
    return [{"field": field or "body", "problem": reason}] if reason else []


def install_body_limit(app: Flask) -> None:
    wsgi_app = app.wsgi_app

    def _body_with_its_length(environ, start_response):
        """A streamed body, read up to one byte past the limit and handed on with its Content-Length,
        so that werkzeug answers it as it does a body announcing its length (413 past the limit)."""
        limit = app.config["MAX_CONTENT_LENGTH"]
        if environ.get("wsgi.input_terminated") and get_content_length(environ) is None and limit is not None:
            body = LimitedStream(environ["wsgi.input"], limit + 1, is_max=True).readall()
            environ.pop("HTTP_TRANSFER_ENCODING", None)  # read: what follows is no longer chunked
            environ.update({"wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))})
        return wsgi_app(environ, start_response)

    app.wsgi_app = _body_with_its_length


def install_input_guard(app: Flask) -> None:
    @app.before_request
    def _refuse_unstorable_values():
        req = request._get_current_object()  # each access through the proxy costs more than its check
        fields = unstorable(req.path, "path")
        for name, value in req.args.items(multi=True):
            fields += unstorable(value, name)
        if req.is_json:
            body = json_body(req)
            if too_deep(body):
                raise ApiError(422, "too_deep", f"JSON is limited to {MAX_DEPTH} levels of nesting", _TOO_DEEP)
            fields += unstorable(body, "")
        else:
            for name, value in req.form.items(multi=True):
                fields += unstorable(value, name)
        if fields:
            raise ApiError(422, "unstorable_value", "; ".join(f"{f['field']}: {f['problem']}" for f in fields),
                           fields)
