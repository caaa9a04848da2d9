"""The intake blueprint: /predict, /predict/batch, /model, /health, /ready.

Requests are validated by pydantic models, which flask-openapi3 also turns into the OpenAPI
document. Every prediction is stored before the answer is sent: if the database cannot take it,
the client gets a 503 and may retry; a 200 always means the prediction is on record. A complaint
resent with the same external_id and text (a retry) gets its stored prediction back, not a second one.
"""
from __future__ import annotations

import re
import sys
import unicodedata
from itertools import groupby
from typing import Any

from flask import current_app, g
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import text as sql
from sqlalchemy.exc import SQLAlchemyError

from .db import new_id, retry_key, store_predictions, stored_retries, utcnow, write_transaction
from .drift import limits as drift_limits
from .drift import served_weeks
from .errors import DATABASE_UNREACHABLE, RETRY_AFTER, ApiError, ErrorOut
from .metrics import record_predictions
from .text import mask_personal, mask_personal_values

intake = Tag(name="intake", description="Routing of new complaints, for intake systems (X-API-Key)")
ops = Tag(name="operations", description="Health, readiness and model metadata")
# 422 on every route: the input guard refuses values no database can store (see inputs.py), in any query.
api = APIBlueprint("api", __name__, abp_tags=[intake], abp_responses={422: ErrorOut})
SECURITY = [{"api_key": []}]


# Invisible yet not format characters: the rest of Unicode's Default_Ignorable_Code_Point (unicodedata lacks that
# property; its unassigned code points left out): the combining grapheme joiner, Hangul fillers, Khmer inherent
# vowels, Mongolian and other variation selectors; and the Braille blank, which renders as a space.
INVISIBLE = [(0x034F, 0x034F), (0x115F, 0x1160), (0x17B4, 0x17B5), (0x180B, 0x180D), (0x180F, 0x180F),
             (0x2800, 0x2800), (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFFA0, 0xFFA0), (0xE0100, 0xE01EF)]


def _invisible_characters() -> str:
    """Unicode's invisible format characters (category Cf: zero-width spaces and joiners, BOM, soft hyphen...)
    and INVISIBLE as the ranges of a regex class; Python's str.strip() and \\s keep them."""
    codes = [c for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf"]
    codes = sorted(set(codes).union(*(range(first, last + 1) for first, last in INVISIBLE)))
    runs = [[c for _, c in run] for _, run in groupby(enumerate(codes), lambda pair: pair[1] - pair[0])]
    return "".join(chr(run[0]) + (f"-{chr(run[-1])}" if len(run) > 1 else "") for run in runs)


# A text is blank without one character outside whitespace and invisible characters (zero-width spaces or Hangul
# fillers alone were routed); the validator and the OpenAPI document's pattern share this.
VISIBLE = re.compile(f"[^\\s{_invisible_characters()}]")


class Complaint(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(description="The complaint as the citizen wrote it: not blank (whitespace and invisible "
                      "characters such as U+200B or U+3164 alone are blank), at most LAKSA_MAX_TEXT_CHARS characters "
                      "(default 10,000)", examples=["Lampu PJU di Jl. Daan Mogot mati"],
                      json_schema_extra={"pattern": VISIBLE.pattern})
    external_id: str | None = Field(None, max_length=200, description=(
        "The intake system's own id of the complaint. It makes retries safe: the same id and text from "
        "the same key get the stored prediction again (409 if the text differs)"))
    metadata: dict[str, Any] | None = Field(None, description="Free key/value data stored with the prediction")

    @field_validator("text")
    @classmethod
    def _text_not_blank(cls, value: str) -> str:
        if not VISIBLE.search(value):
            raise ValueError("must not be empty")
        return value


class Batch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[Complaint] = Field(min_length=1, description="Complaints to route; at most LAKSA_MAX_BATCH")


class ScoredLabel(BaseModel):
    """A label, its registry name and its calibrated confidence."""
    label: str
    name: str
    confidence: float


class CategoryOut(ScoredLabel):
    alternatives: list[ScoredLabel]


class OpdOut(BaseModel):
    code: str
    name: str
    confidence: float
    alternatives: list[ScoredLabel]


class PredictionOut(BaseModel):
    prediction_id: str
    external_id: str | None = None
    category: CategoryOut
    opd: OpdOut
    needs_review: bool
    reasons: list[str]
    model_version: str
    replayed: bool = Field(description="True when this key sent this external_id before with the same text: "
                                       "the stored prediction comes back and nothing new is stored")


class BatchOut(BaseModel):
    items: list[PredictionOut]


class HealthOut(BaseModel):
    status: str


class ReadyOut(BaseModel):
    status: str = Field(description="ready, or not ready (with status 503)")
    checks: dict[str, str] = Field(description="model and database: ok, or what failed")


class ModelOut(BaseModel):
    version: str
    created_at: str | None
    labels: dict[str, list[str]] | None = Field(description="category and opd labels the model predicts")
    thresholds: dict[str, float] | None = Field(description="per head, the confidence below which needs_review is set")
    target_precision: float | None
    validation: dict[str, Any] | None = Field(description="figures on the validation rows (model card)")
    data: dict[str, Any] = Field(description="the training data: rows, sha256, split, validation_rows")
    libraries: dict[str, Any] | None


class WeekOut(BaseModel):
    week: str = Field(description="ISO week, e.g. 2026-W47")
    predictions: int
    opd_counts: dict[str, int]
    opd_drift: float = Field(description="total variation distance from the training OPD mix, 0..1")
    review_share: float
    override_rate: dict[str, float]
    flags: list[str]


class DriftOut(BaseModel):
    limits: dict[str, float]
    weeks: list[WeekOut]


ERRORS = {400: ErrorOut, 401: ErrorOut, 409: ErrorOut, 413: ErrorOut, 422: ErrorOut, 503: ErrorOut}


@api.post("/predict", summary="Route one complaint", security=SECURITY, responses={200: PredictionOut, **ERRORS})
def predict(body: Complaint):
    return _route([body], batch=False)[0]


@api.post("/predict/batch", summary="Route several complaints in one call", security=SECURITY,
          responses={200: BatchOut, **ERRORS})
def predict_batch(body: Batch):
    limit = current_app.config["LAKSA_MAX_BATCH"]
    if len(body.items) > limit:
        raise ApiError(422, "batch_too_large", f"at most {limit} items per batch, got {len(body.items)}",
                       [{"field": "items", "problem": f"more than {limit} items"}])
    first_index: dict[str, int] = {}
    repeated = [{"field": f"items.{i}.external_id", "problem": f"repeats items.{first_index[c.external_id]}"}
                for i, c in enumerate(body.items)
                if c.external_id is not None and first_index.setdefault(c.external_id, i) != i]
    if repeated:
        raise ApiError(422, "repeated_external_id", "each complaint of a batch needs its own external_id", repeated)
    return {"items": _route(body.items, batch=True)}


def _route(complaints: list[Complaint], batch: bool) -> list[dict]:
    limit = current_app.config["LAKSA_MAX_TEXT_CHARS"]
    too_long = [i for i, c in enumerate(complaints) if len(c.text) > limit]
    if too_long:
        raise ApiError(422, "text_too_long", f"text is limited to {limit} characters",
                       [{"field": _field(batch, i, "text"), "problem": f"longer than {limit} characters"}
                        for i in too_long])
    served = current_app.extensions["laksa_models"].current()
    predictions = served.model.predict([c.text for c in complaints])
    records = [_record(c, p, served.version) for c, p in zip(complaints, predictions)]
    try:
        # A Core insert on a pooled connection: no ORM session to set up on the hot path.
        with write_transaction(current_app.extensions["laksa_sessions"].kw["bind"]) as connection:
            sent_before = {}
            if store_predictions(connection, records) < len(records):
                sent_before = _sent_before(connection, records, batch)
    except DATABASE_UNREACHABLE:
        raise  # answered as database_unavailable, as on every other route
    except SQLAlchemyError:
        current_app.logger.exception("could not store predictions")
        raise ApiError(503, "storage_unavailable", "the prediction could not be stored; retry later",
                       headers=RETRY_AFTER) from None
    record_predictions([p for i, p in enumerate(predictions) if i not in sent_before])
    return [_replayed(sent_before[i]) if i in sent_before else _answer(r, p.category.name, p.opd.name)
            for i, (r, p) in enumerate(zip(records, predictions))]


def _field(batch: bool, index: int, name: str) -> str:
    """How an error names a field: `text` in /predict, `items.3.text` in a batch (of one too, as pydantic does)."""
    return f"items.{index}.{name}" if batch else name


def _sent_before(connection, records: list[dict], batch: bool) -> dict[int, dict]:
    """The stored prediction of each complaint this key sent before, by position; 409 for an external_id
    that came with another text (a mistake, not a retry: the transaction is rolled back)."""
    ours = {r["id"] for r in records}
    stored = stored_retries(connection, [r["retry_key"] for r in records if r["retry_key"]])
    earlier = {i: stored[r["retry_key"]] for i, r in enumerate(records)
               if r["retry_key"] in stored and stored[r["retry_key"]]["id"] not in ours}
    reused = [i for i, row in earlier.items() if row["text"] != records[i]["text"]]
    if reused:
        raise ApiError(409, "external_id_reused", "an external_id already names another complaint from this key",
                       [{"field": _field(batch, i, "external_id"),
                         "problem": f"already used for a different text (prediction {earlier[i]['id']})"}
                        for i in reused])
    return earlier


def _record(complaint: Complaint, prediction, version: str) -> dict:
    """The row stored for one prediction (the columns of PredictionRecord)."""
    opd_alternatives = prediction.opd.alternatives
    return dict(
        id=new_id(), created_at=utcnow(), api_key=g.api_key_name, external_id=complaint.external_id,
        retry_key=retry_key(g.api_key_name, complaint.external_id),
        text=mask_personal(complaint.text), request_metadata=mask_personal_values(complaint.metadata),
        category=prediction.category.label, category_confidence=prediction.category.confidence,
        opd=prediction.opd.label, opd_confidence=prediction.opd.confidence,
        opd_margin=prediction.opd.confidence - (opd_alternatives[0]["confidence"] if opd_alternatives else 0.0),
        alternatives={"category": prediction.category.alternatives, "opd": opd_alternatives},
        reasons=prediction.reasons, needs_review=prediction.needs_review, model_version=version)


def _replayed(stored: dict) -> dict:
    """The answer a retry gets: the stored prediction, named by the registry."""
    registry = current_app.extensions["laksa_registry"]
    return _answer(stored, registry.category_name(stored["category"]), registry.opd_name(stored["opd"]),
                   replayed=True)


def _answer(record: dict, category_name: str, opd_name: str, replayed: bool = False) -> dict:
    """The answer for a stored prediction (`_record`'s columns)."""
    alternatives = record["alternatives"]
    return {"prediction_id": record["id"], "external_id": record["external_id"],
            "category": {"label": record["category"], "name": category_name,
                         "confidence": record["category_confidence"], "alternatives": alternatives["category"]},
            "opd": {"code": record["opd"], "name": opd_name, "confidence": record["opd_confidence"],
                    "alternatives": alternatives["opd"]},
            "needs_review": record["needs_review"], "reasons": record["reasons"],
            "model_version": record["model_version"], "replayed": replayed}


@api.get("/health", summary="The process is alive", tags=[ops], responses={200: HealthOut})
def health():
    return {"status": "ok"}


@api.get("/ready", summary="Model loaded and database reachable (else 503)", tags=[ops],
         responses={200: ReadyOut, 503: ReadyOut})
def ready():
    checks = {"model": "ok", "database": "ok"}
    try:
        current_app.extensions["laksa_models"].current()
    except Exception as error:  # any failure to serve a model means not ready
        checks["model"] = str(error)
    try:
        with current_app.extensions["laksa_sessions"]() as session:
            session.execute(sql("SELECT 1"))
    except SQLAlchemyError as error:
        checks["database"] = type(error).__name__
    ok = all(value == "ok" for value in checks.values())
    return {"status": "ready" if ok else "not ready", "checks": checks}, 200 if ok else 503


@api.get("/drift", summary="Routing health per week: OPD mix vs training, review share, override rates",
         tags=[ops], responses={200: DriftOut, 503: ErrorOut})
def drift():
    return {"limits": drift_limits(current_app.config), "weeks": served_weeks(current_app)}


@api.get("/model", summary="The served model: version, labels, thresholds, evaluation figures", tags=[ops],
         responses={200: ModelOut})
def model_info():
    served = current_app.extensions["laksa_models"].current()
    card = served.card
    return {"version": served.version, "created_at": card.get("created_at"), "labels": card.get("labels"),
            "thresholds": card.get("thresholds"), "target_precision": card.get("params", {}).get("target_precision"),
            "validation": card.get("validation"), "data": {k: card.get("data", {}).get(k) for k in
                                                            ("rows", "sha256", "split", "validation_rows")},
            "libraries": card.get("libraries")}
