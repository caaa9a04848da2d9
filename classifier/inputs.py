"""Values that one of the databases cannot store are refused at the door, with a 422 naming the field.

So is JSON nested deeper than MAX_DEPTH: the checks and the masking of metadata recurse, and
past Python's recursion limit (a few kilobytes of brackets) they, or the JSON parser, failed with a 500.

PostgreSQL's text cannot hold the NUL character and its JSON refuses NaN and Infinity (which
Flask's JSON parser accepts); neither database nor UTF-8 can hold a lone surrogate (JSON's
"\\ud800"). Let through, they failed only at the insert: a 500, or on /predict a 503 telling the
intake system to retry a complaint that could never be stored, while SQLite stored some of them.

A body over MAX_CONTENT_LENGTH is a 413 whether or not it announces its length: werkzeug stops
reading a chunked body (no Content-Length) at the limit and hands on its first bytes, whose cut
JSON was a 400 invalid_json. Such a body is read, one byte past the limit, only when the app first
asks for it (request.stream, behind get_json and form), where werkzeug checks a Content-Length: so
after the X-API-Key, and a client without one cannot make a worker read up to the limit.
"""
from __future__ import annotations

import io
import math

from flask import Flask, request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.utils import cached_property
from werkzeug.wsgi import LimitedStream

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
    class BodyWithinLimit(app.request_class):
        @cached_property
        def stream(self):
            """A streamed body, read up to one byte past the limit when first asked for and refused as werkzeug
            refuses a body announcing its length (413 past the limit); any other body gets werkzeug's stream."""
            limit = self.max_content_length
            streamed = self.environ.get("wsgi.input_terminated") and self.content_length is None
            if self.shallow or not streamed or limit is None:
                return super().stream
            body = LimitedStream(self.environ["wsgi.input"], limit + 1, is_max=True).readall()
            if len(body) > limit:
                raise RequestEntityTooLarge()
            return io.BytesIO(body)

    app.request_class = BodyWithinLimit


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
