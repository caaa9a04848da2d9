"""The operators' JSON API: decisions on predictions, their export, the review queue and claims.

Every call needs a signed-in operator: the pages' session cookie (plus the X-CSRFToken header on
POST) or HTTP basic auth of an operator account. An intake X-API-Key is not an operator: 401.
"""
from __future__ import annotations

import csv
import io

from flask import Response, current_app, request
from flask_login import current_user
from flask_openapi3 import APIBlueprint, Tag
from flask_wtf.csrf import CSRFError
from pydantic import BaseModel, ConfigDict, Field

from . import accounts, review, spreadsheet
from .api import ScoredLabel
from .errors import ApiError, ErrorOut
from .operators import auth_limit, protect_unsafe_methods, signed_in_operator

tag = Tag(name="operators", description="Review queue and decisions, for signed-in operators (session or basic auth)")
# Any call may meet a missing sign-in (401), a missing CSRF token (400), after failed sign-ins the limit
# (429), or an unreachable database (503).
review_api = APIBlueprint("review_api", __name__, abp_tags=[tag],
                          abp_security=[{"operator_basic": []}, {"operator_session": []}],
                          abp_responses={code: ErrorOut for code in (400, 401, 422, 429, 503)})
auth_limit(review_api)
SECURITY_SCHEMES = {"operator_basic": {"type": "http", "scheme": "basic"},
                    "operator_session": {"type": "apiKey", "in": "cookie", "name": "session"}}


@review_api.before_request
def _require_operator():
    if not signed_in_operator().is_authenticated:
        raise ApiError(401, "operator_login_required", "sign in as an operator (session cookie or HTTP basic auth); "
                       "intake API keys cannot call this", [{"field": "Authorization", "problem": "no operator"}])
    protect_unsafe_methods()


@review_api.before_request
def _refuse_repeated_parameters():
    """?opd=DLH&opd=DPUPR would silently mean DLH: each query parameter is one value, as documented."""
    repeated = [name for name in request.args if len(request.args.getlist(name)) > 1]
    if repeated:
        raise ApiError(422, "repeated_parameter", "each query parameter may be given once",
                       [{"field": name, "problem": "given more than once"} for name in repeated])


@review_api.errorhandler(CSRFError)
def _csrf_error(error: CSRFError):
    body = ApiError(400, "csrf_failed", f"{error.description} Send the page's token in the X-CSRFToken header, or "
                    "use HTTP basic auth", [{"field": "X-CSRFToken", "problem": error.description}]).body()
    return body, 400


class PredictionPath(BaseModel):
    prediction_id: str = Field(max_length=64)


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    operator: str | None = Field(None, description="Must be the signed-in operator when given")
    seen_category: str | None = Field(None, description="The category shown when the operator decided: if another "
                                      "decision changed it since, 409 label_changed and nothing is recorded")
    seen_opd: str | None = Field(None, description="The OPD shown when the operator decided (as seen_category)")


class OverrideIn(DecisionIn):
    category: str | None = Field(None, description="New category code (registry); keeps the current one if absent")
    opd: str | None = Field(None, description="New OPD code (registry); keeps the current one if absent")
    reason: str = Field(min_length=1, max_length=review.MAX_REASON_CHARS, description="Why the route was wrong")


class ConfirmIn(DecisionIn):
    reason: str = Field("", max_length=review.MAX_REASON_CHARS)


class Paging(BaseModel):
    page: int = Field(1, ge=1, le=review.MAX_PAGE)
    per_page: int = Field(50, ge=1, le=500)


class RangeQuery(Paging):
    from_: str | None = Field(None, alias="from", description="Start date (WIB day) or ISO datetime, inclusive")
    to: str | None = Field(None, description="End date (WIB day, inclusive) or ISO datetime (exclusive)")
    opd: str | None = None


class OverridesQuery(RangeQuery):
    operator: str | None = None
    format: str | None = Field(None, pattern="^(json|csv)$", description="csv, or send Accept: text/csv")


class NewOperator(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str
    password: str
    role: str = "operator"


class DecisionOut(BaseModel):
    """An operator's decision (`review.decision_row`), also a row of the CSV export."""
    id: int
    prediction_id: str
    created_at: str
    operator: str
    action: str = Field(description="confirm or override")
    previous_category: str
    previous_opd: str
    category: str = Field(description="the effective category after this decision")
    opd: str = Field(description="the effective OPD after this decision")
    reason: str
    external_id: str | None
    model_version: str
    predicted_at: str
    text: str = Field(description="the complaint, personal numbers masked")


class RepeatedDecisionOut(DecisionOut):
    # flask-openapi3 reads openapi_extra: the description of the 200 answer
    model_config = ConfigDict(openapi_extra={"description": "The same decision (operator, action, resulting label, "
                                             "reason) is already the latest: nothing recorded, that one returned"})


class PageOut(BaseModel):
    """One page of a list (`review.Page`): its items are added by each kind of list."""
    total: int
    page: int
    per_page: int


class DecisionPage(PageOut):
    # flask-openapi3 reads openapi_extra: the export also answers CSV (every decision, or the page asked for)
    model_config = ConfigDict(openapi_extra={"content": {"text/csv": {"schema": {"type": "string"}}}})
    items: list[DecisionOut]


class RoutedOpdOut(BaseModel):
    code: str
    name: str
    confidence: float
    margin: float = Field(description="confidence minus the next OPD's")


class HeldBy(BaseModel):
    operator: str
    expires_at: str


class ClaimOut(HeldBy):
    prediction_id: str


class QueueItemOut(BaseModel):
    prediction_id: str
    created_at: str
    external_id: str | None
    text: str
    category: ScoredLabel
    opd: RoutedOpdOut
    alternatives: dict[str, list[ScoredLabel]] = Field(description="category and opd: the next labels")
    reasons: list[str]
    needs_review: bool
    model_version: str
    claim: HeldBy | None = Field(description="who is working on it, if anyone")


class QueuePage(PageOut):
    items: list[QueueItemOut]


class Effective(BaseModel):
    category: str
    opd: str


class PredictionDetailOut(QueueItemOut):
    effective: Effective = Field(description="the route after the latest decision, else the predicted one")
    decisions: list[DecisionOut]


class OperatorOut(BaseModel):
    username: str
    role: str
    active: bool = Field(description="False once an admin switched the account off: it signs nobody in")


class OperatorList(BaseModel):
    items: list[OperatorOut]


class OperatorPath(BaseModel):
    username: str = Field(max_length=accounts.MAX_USERNAME_CHARS)


class AccountChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    active: bool | None = Field(None, description="false switches the account off (its claims are freed), true on")
    password: str | None = Field(None, description=f"A new password, at least {accounts.MIN_PASSWORD_CHARS} "
                                 "characters, not containing the username")


def _operator_named(claimed: str | None) -> str:
    """The signed-in operator; a body naming someone else is refused, nobody writes in another's name."""
    if claimed is not None and claimed != current_user.username:
        raise ApiError(422, "operator_mismatch", "operator must be the signed-in operator",
                       [{"field": "operator", "problem": f"you are signed in as {current_user.username}"}])
    return current_user.username


def _decide(prediction_id: str, action: str, body) -> tuple[dict, int]:
    sessions = current_app.extensions["laksa_sessions"]
    record, repeat = review.decide(sessions, current_app.extensions["laksa_registry"], prediction_id,
                                   _operator_named(body.operator), action, category=getattr(body, "category", None),
                                   opd=getattr(body, "opd", None), reason=body.reason,
                                   seen=(body.seen_category, body.seen_opd))
    with sessions() as db:
        return review.decision_row(record, review.get_prediction(db, prediction_id)), 200 if repeat else 201


DECISION_RESPONSES = {200: RepeatedDecisionOut, 201: DecisionOut, 404: ErrorOut, 409: ErrorOut}


@review_api.post("/predictions/<prediction_id>/override", summary="Correct the category and/or OPD of a prediction "
                 "(201; 200 if the same decision is already the latest)", responses=DECISION_RESPONSES)
def override(path: PredictionPath, body: OverrideIn):
    return _decide(path.prediction_id, "override", body)


@review_api.post("/predictions/<prediction_id>/confirm", summary="Accept the current route of a prediction (201; 200 "
                 "if the same decision is already the latest)", responses=DECISION_RESPONSES)
def confirm(path: PredictionPath, body: ConfirmIn):
    return _decide(path.prediction_id, "confirm", body)


@review_api.get("/predictions/<prediction_id>", summary="A stored prediction, its decisions and effective label",
                responses={200: PredictionDetailOut, 404: ErrorOut})
def prediction_detail(path: PredictionPath):
    with current_app.extensions["laksa_sessions"]() as db:
        prediction = review.get_prediction(db, path.prediction_id)
        decisions = review.history(db, prediction.id)
        held = review.live_claim(db, prediction.id)
    category, opd = review.label_after(prediction, decisions)
    return {**_queue_item(prediction, held), "effective": {"category": category, "opd": opd},
            "decisions": [review.decision_row(d, prediction) for d in decisions]}


@review_api.get("/overrides", summary="Export decisions (JSON, or CSV with ?format=csv or Accept: text/csv)",
                responses={200: DecisionPage})
def export_overrides(query: OverridesQuery):
    start, end = review.date_range(query.from_, query.to)
    selected = review.overrides_query(start, end, query.opd, query.operator)
    wants_csv = query.format == "csv" or (query.format is None and request.accept_mimetypes.best_match(
        ["application/json", "text/csv"]) == "text/csv")
    sessions = current_app.extensions["laksa_sessions"]
    if wants_csv and not {"page", "per_page"} & set(request.args):
        return Response(_csv(sessions, selected), mimetype="text/csv",
                        headers={"Content-Disposition": "attachment; filename=overrides.csv"})
    with sessions() as db:
        page = review.list_overrides(db, selected, query.page, query.per_page)
    headers = {"X-Total-Count": str(page.total)}
    rows = [review.decision_row(record, prediction) for record, prediction in page.items]
    if wants_csv:
        return Response(_csv_lines(rows), mimetype="text/csv", headers=headers)
    return {"items": rows, "total": page.total, "page": page.page, "per_page": page.per_page}, 200, headers


def _csv(sessions, selected):
    """Every selected decision as CSV, streamed in chunks so a long export does not sit in memory."""
    with sessions() as db:
        yield _csv_lines([], header=True)
        result = db.execute(selected.execution_options(yield_per=500))
        for chunk in result.partitions():
            yield _csv_lines([review.decision_row(record, prediction) for record, prediction in chunk], header=False)


def _csv_lines(rows: list[dict], header: bool = True) -> str:
    """CSV for spreadsheets: what a spreadsheet would run as a formula is guarded (see spreadsheet.py)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=review.EXPORT_COLUMNS)
    if header:
        writer.writeheader()
    for row in rows:
        writer.writerow({name: spreadsheet.guard(value) for name, value in row.items()})
    return buffer.getvalue()


def _queue_item(prediction, held) -> dict:
    registry = current_app.extensions["laksa_registry"]
    return {"prediction_id": prediction.id, "created_at": review.as_utc(prediction.created_at).isoformat(),
            "external_id": prediction.external_id, "text": prediction.text,
            "category": {"label": prediction.category, "name": registry.category_name(prediction.category),
                         "confidence": prediction.category_confidence},
            "opd": {"code": prediction.opd, "name": registry.opd_name(prediction.opd),
                    "confidence": prediction.opd_confidence, "margin": prediction.opd_margin},
            "alternatives": prediction.alternatives, "reasons": prediction.reasons,
            "needs_review": prediction.needs_review, "model_version": prediction.model_version,
            "claim": {"operator": held.operator, "expires_at": review.as_utc(held.expires_at).isoformat()}
            if held else None}


@review_api.get("/review", summary="Predictions waiting for an operator, least certain first",
                responses={200: QueuePage})
def review_queue(query: RangeQuery):
    start, end = review.date_range(query.from_, query.to)
    with current_app.extensions["laksa_sessions"]() as db:
        page = review.review_queue(db, query.opd, start, end, query.page, query.per_page)
    return {"items": [_queue_item(p, held) for p, held in page.items], "total": page.total, "page": page.page,
            "per_page": page.per_page}


@review_api.post("/review/<prediction_id>/claim", summary="Take a prediction so others leave it alone (409 if taken)",
                 responses={200: ClaimOut, 404: ErrorOut, 409: ErrorOut})
def claim(path: PredictionPath):
    held = review.claim(current_app.extensions["laksa_sessions"], path.prediction_id, current_user.username,
                        current_app.config["LAKSA_CLAIM_SECONDS"])
    return {"prediction_id": held.prediction_id, "operator": held.operator,
            "expires_at": review.as_utc(held.expires_at).isoformat()}


def _admin_only() -> None:
    if not current_user.is_admin:
        raise ApiError(403, "admin_only", "only admins manage accounts", [{"field": "role", "problem": "not admin"}])


def _account(change, *args, **kwargs):
    """An `accounts` change by the signed-in admin, its refusals as API errors: 404 for an unknown name, else 422."""
    try:
        return change(current_app.extensions["laksa_sessions"], *args, **kwargs, by=current_user.username)
    except accounts.AccountError as error:
        status, code = (404, "operator_not_found") if isinstance(error, accounts.UnknownOperator) \
            else (422, "invalid_account")
        raise ApiError(status, code, str(error), [{"field": error.field, "problem": error.problem}]) from None


def _operator_out(operator) -> dict:
    return {"username": operator.username, "role": operator.role, "active": operator.disabled_at is None}


@review_api.get("/operators", summary="Every operator account, by name (admins only)",
                responses={200: OperatorList, 403: ErrorOut})
def list_operators():
    _admin_only()
    return {"items": [_operator_out(o) for o in accounts.list_operators(current_app.extensions["laksa_sessions"])]}


@review_api.post("/operators", summary="Create an operator account (admins only)",
                 responses={201: OperatorOut, 403: ErrorOut})
def create_operator(body: NewOperator):
    _admin_only()
    return _operator_out(_account(accounts.create_operator, body.username, body.password, body.role)), 201


@review_api.patch("/operators/<username>", summary="Switch an account off or on, or reset its password (admins "
                  "only); either ends the account's sign-ins", responses={200: OperatorOut, 403: ErrorOut, 404: ErrorOut})
def change_operator(path: OperatorPath, body: AccountChange):
    _admin_only()
    return _operator_out(_account(accounts.update_operator, path.username, body.active, body.password))
