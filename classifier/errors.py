"""Errors the command lines and the service turn into clear messages instead of stack traces."""
from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy.exc import OperationalError, TimeoutError


class DataError(ValueError):
    """Bad input data, located by file, row (1-based, header is row 1) and column where known."""

    def __init__(self, message: str, file: str | None = None, row: int | None = None, column: str | None = None):
        self.message, self.file, self.row, self.column = message, file, row, column
        super().__init__(str(self))

    def __str__(self) -> str:
        where = [f"file {self.file}"] if self.file else []
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column:
            where.append(f"column '{self.column}'")
        return f"{', '.join(where)}: {self.message}" if where else self.message


class ApiError(Exception):
    """An HTTP error answered as JSON: {"error": code, "message": ..., "fields": [{"field", "problem"}]}."""

    def __init__(self, status: int, code: str, message: str, fields: list[dict] | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields
        self.headers = headers or {}

    def body(self) -> dict:
        body = {"error": self.code, "message": self.message}
        if self.fields:
            body["fields"] = self.fields
        return body


class FieldProblem(BaseModel):
    field: str
    problem: str


class ErrorOut(BaseModel):
    """The body of every 4xx and 5xx answer (`ApiError.body`), as the OpenAPI document shows it."""
    error: str
    message: str
    fields: list[FieldProblem] | None = None


# The database is down, locked too long or out of connections: the client may retry, so a 503.
DATABASE_UNREACHABLE = (OperationalError, TimeoutError)
RETRY_AFTER = {"Retry-After": "5"}  # seconds, with every 503


PAGE_ERRORS = "laksa_page_errors"  # app.extensions key: URL prefix -> view of an HTTP error as a page


def http_error_headers(error) -> list[tuple[str, str]]:
    """werkzeug's own headers of an HTTP error (Allow on a 405, Retry-After on a 429), not its HTML type."""
    return [(name, value) for name, value in error.get_headers() if name.lower() != "content-type"]


def install_error_handlers(app) -> None:
    """Every error leaves as JSON naming the problem; never an HTML page or a stack trace."""
    from flask import jsonify, request
    from werkzeug.exceptions import HTTPException

    @app.errorhandler(ApiError)
    def _api_error(error: ApiError):
        return jsonify(error.body()), error.status, error.headers

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        # An unmatched URL or method never reaches a blueprint's handlers: pages under a prefix get theirs.
        for prefix, as_page in app.extensions.get(PAGE_ERRORS, {}).items():
            if request.path.startswith(prefix):
                return as_page(error)
        code = (error.name or "error").lower().replace(" ", "_")
        body = {"error": code, "message": error.description}
        if error.code == 405:
            body["message"] = f"{request.method} is not allowed on {request.path}"
        return jsonify(body), error.code, http_error_headers(error)

    def _database_unreachable(error: Exception):
        app.logger.warning("database unreachable: %s", error)
        body = {"error": "database_unavailable", "message": "the database cannot be reached; retry later"}
        return jsonify(body), 503, RETRY_AFTER

    for kind in DATABASE_UNREACHABLE:
        app.register_error_handler(kind, _database_unreachable)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        app.logger.exception("unhandled error")
        return jsonify({"error": "internal_error", "message": "an unexpected error occurred; it has been logged"}), 500

    app.validation_error_callback = _validation_error


def _validation_error(error):
    """pydantic's errors as [{"field": "items.0.text", "problem": "..."}] with status 422."""
    from flask import jsonify, make_response

    fields = [{"field": ".".join(str(part) for part in item["loc"]) or "body", "problem": item["msg"]}
              for item in error.errors()]
    message = "; ".join(f"{f['field']}: {f['problem']}" for f in fields)
    return make_response(jsonify({"error": "validation_error", "message": message, "fields": fields}), 422)
