"""Operators' decisions over stored predictions: the review queue, claims, confirmations and overrides.

Both the JSON API (`review_api.py`) and the pages (`operators.py`) call these functions, so the
rules live here once. Decisions are append-only rows of `overrides`; the effective label of a
prediction is its latest decision (highest id), or the model's route when there is none.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import NamedTuple

from sqlalchemy import and_, exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from .db import OverrideRecord, PredictionRecord, ReviewClaim, utcnow
from .errors import ApiError
from .registry import Registry
from .text import mask_personal

WIB = timezone(timedelta(hours=7), "WIB")  # Kota Tangerang's time: dates in filters and pages are WIB days
ACTIONS = ("confirm", "override")
MAX_REASON_CHARS = 2000
MAX_PAGE = 1_000_000  # keeps a page's offset within a 64-bit integer, whatever the page size


def as_utc(moment: datetime) -> datetime:
    """SQLite hands datetimes back without a zone; they were stored as UTC."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


YEARS = (1900, 9000)  # the years a filter may name


def parse_moment(value: str | None, field: str, end: bool = False, days_only: bool = False) -> datetime | None:
    """An ISO date or datetime from a filter, as UTC. A bare date is a WIB day; as an `end` it includes that day.
    With `days_only` (the dashboard, whose charts count whole days) a datetime is refused."""
    if not value:
        return None
    try:
        moment, whole_day = _date_or_datetime(value.strip())
        if not YEARS[0] <= moment.year <= YEARS[1]:  # near the calendar's ends, day arithmetic overflows
            raise ValueError(f"year {moment.year}")
        if days_only and not whole_day:
            raise ValueError("a datetime")
        if end and whole_day:
            moment += timedelta(days=1)
        return as_utc(moment.replace(tzinfo=WIB) if moment.tzinfo is None else moment)
    except (ValueError, OverflowError):  # OverflowError: a day at either end of the calendar, e.g. 9999-12-31
        kinds = "a date (YYYY-MM-DD)" if days_only else "a date (YYYY-MM-DD) or an ISO datetime"
        raise ApiError(422, "invalid_date", f"{field} must be {kinds}, in the years {YEARS[0]}-{YEARS[1]}",
                       [{"field": field, "problem": f"not a date: {value[:40]!r}"}]) from None


def _date_or_datetime(text: str) -> tuple[datetime, bool]:
    """The moment, and whether the text named a whole day (2026-11-22 or 20261122, not 2026-11-22T00:00)."""
    try:
        return datetime.combine(date.fromisoformat(text), time()), True
    except ValueError:
        return datetime.fromisoformat(text), False


def date_range(start: str | None, end: str | None) -> tuple[datetime | None, datetime | None]:
    """The `from` and `to` filters as UTC moments of [start, end); a `to` date includes its whole WIB day."""
    return parse_moment(start, "from"), parse_moment(end, "to", end=True)


@dataclass
class Page:
    items: list
    total: int
    page: int
    per_page: int

    @property
    def last(self) -> int:
        """The number of the last page (1 when there is nothing)."""
        return max(1, -(-self.total // self.per_page))


def get_prediction(session: Session, prediction_id: str) -> PredictionRecord:
    record = session.get(PredictionRecord, prediction_id)
    if record is None:
        raise ApiError(404, "prediction_not_found", f"no prediction with id {prediction_id!r}",
                       [{"field": "prediction_id", "problem": "unknown"}])
    return record


def history(session: Session, prediction_id: str) -> list[OverrideRecord]:
    """Every decision on a prediction, oldest first; the last one is the effective label."""
    return list(session.scalars(select(OverrideRecord).where(OverrideRecord.prediction_id == prediction_id)
                                .order_by(OverrideRecord.id)))


def label_after(prediction: PredictionRecord, decisions: list[OverrideRecord]) -> tuple[str, str]:
    """(category, opd) that stand after `decisions` (its `history`): the latest one's, else the model's."""
    latest = decisions[-1] if decisions else prediction
    return latest.category, latest.opd


def latest_decision(session: Session, prediction_id: str) -> OverrideRecord | None:
    """The decision whose label stands for this prediction now, if any."""
    return session.scalar(select(OverrideRecord).where(OverrideRecord.prediction_id == prediction_id)
                          .order_by(OverrideRecord.id.desc()).limit(1))


def _check_decision(registry: Registry, action: str, category: str | None, opd: str | None, reason: str) -> None:
    problems = []
    if action not in ACTIONS:
        problems.append({"field": "action", "problem": f"must be one of {', '.join(ACTIONS)}"})
    if action == "override":
        if not category and not opd:
            problems.append({"field": "category", "problem": "give a category, an opd, or both"})
        if not reason.strip():
            problems.append({"field": "reason", "problem": "an override needs a reason"})
    if category and category not in registry.categories:
        problems.append({"field": "category", "problem": f"{category[:100]!r} is not a registered category"})
    if opd and opd not in registry.opds:
        problems.append({"field": "opd", "problem": f"{opd[:50]!r} is not a registered OPD"})
    if len(reason) > MAX_REASON_CHARS:
        problems.append({"field": "reason", "problem": f"longer than {MAX_REASON_CHARS} characters"})
    if problems:
        raise ApiError(422, "invalid_decision", "; ".join(f"{p['field']}: {p['problem']}" for p in problems), problems)


class Decided(NamedTuple):
    record: OverrideRecord
    repeat: bool  # the latest decision was this very one: nothing new was recorded


def decide(sessions: sessionmaker, registry: Registry, prediction_id: str, operator: str, action: str,
           category: str | None = None, opd: str | None = None, reason: str = "",
           seen: tuple[str | None, str | None] = (None, None)) -> Decided:
    """Record a confirmation or an override and return it (`Decided`). Unknown prediction: 404; bad values: 422.

    Another operator's live claim on the prediction: 409. `seen` is the (category, opd) the operator
    decided on, where known: if another decision changed it since, 409, rather than confirming a label
    the operator never saw or silently undoing the other correction. The reason is masked like the
    complaint: operators paste phone numbers too.

    The same decision sent again (a retry, a double click, a form sent again from the browser's
    history) is recorded once: if the latest decision has the same operator, action, resulting label
    and reason, nothing is recorded and that one comes back as a repeat. As it changes nothing,
    neither another's claim nor a `seen` label outdated by that very decision refuses it.
    """
    reason = reason.replace("\r\n", "\n")  # as a browser sends a textarea's line breaks, each counted once there
    _check_decision(registry, action, category, opd, reason)
    with sessions.begin() as session:
        # A no-op UPDATE first takes the prediction's row lock (PostgreSQL) or the write lock (SQLite) before
        # anything is read, so concurrent decisions on one prediction queue up and each records what it replaced.
        session.execute(update(PredictionRecord).where(PredictionRecord.id == prediction_id)
                        .values(needs_review=PredictionRecord.needs_review))
        prediction = get_prediction(session, prediction_id)
        latest = latest_decision(session, prediction_id)
        previous_category, previous_opd = label_after(prediction, [latest] if latest else [])
        new_category, new_opd = (category or previous_category, opd or previous_opd) if action == "override" \
            else (previous_category, previous_opd)
        reason = mask_personal(reason).strip()
        if latest is not None and (latest.operator, latest.action, latest.category, latest.opd, latest.reason) == (
                operator, action, new_category, new_opd, reason):
            return Decided(latest, repeat=True)
        held = live_claim(session, prediction_id)
        if held is not None and held.operator != operator:  # "Tangani" keeps the others' hands off
            raise _claimed(held)
        changed = [f"seen_{name}" for name, shown, now in zip(("category", "opd"), seen, (previous_category, previous_opd))
                   if shown is not None and shown != now]
        if changed:
            raise ApiError(409, "label_changed", f"the label shown is not the current one: it is "
                           f"{previous_category} / {previous_opd}", [{"field": field, "problem": "not the "
                           "current label"} for field in changed])
        if action == "override" and (new_category, new_opd) == (previous_category, previous_opd):
            raise ApiError(422, "no_change", "the override keeps the current category and OPD; confirm instead",
                           [{"field": "category" if category else "opd", "problem": "equals the current label"}])
        record = OverrideRecord(prediction_id=prediction.id, created_at=utcnow(), operator=operator, action=action,
                                category=new_category, opd=new_opd, previous_category=previous_category,
                                previous_opd=previous_opd, reason=reason)
        session.add(record)
    return Decided(record, repeat=False)


def claim(sessions: sessionmaker, prediction_id: str, operator: str, seconds: int) -> ReviewClaim:
    """Take a prediction for `seconds`. Renewing one's own claim or taking an expired one is allowed;
    another operator's live claim is a 409, also when two first claims race on the primary key."""
    try:
        return _take(sessions, prediction_id, operator, seconds)
    except IntegrityError:
        # Another first claim won the race. Once more, now as an update: it renews the claim if the
        # winner was this operator (a double click), and is a 409 if it was someone else.
        return _take(sessions, prediction_id, operator, seconds)


def _take(sessions: sessionmaker, prediction_id: str, operator: str, seconds: int) -> ReviewClaim:
    now = utcnow()
    mine = ReviewClaim(prediction_id=prediction_id, operator=operator, expires_at=now + timedelta(seconds=seconds))
    with sessions.begin() as session:
        get_prediction(session, prediction_id)
        taken = session.execute(update(ReviewClaim).where(
            ReviewClaim.prediction_id == prediction_id,
            (ReviewClaim.operator == operator) | (ReviewClaim.expires_at <= now)).values(
            operator=operator, expires_at=mine.expires_at)).rowcount
        if not taken:  # no claim yet, or another operator's; or one committed since the update
            held = session.get(ReviewClaim, prediction_id)
            if held is None:
                session.add(mine)
            elif held.operator == operator:  # this operator's other request
                return held
            else:
                raise _claimed(held)
    return mine


class ClaimConflict(ApiError):
    def __init__(self, operator: str, until: datetime):
        self.operator, self.until = operator, as_utc(until)
        super().__init__(409, "already_claimed", f"{operator} is working on this complaint until "
                         f"{self.until.isoformat()}", [{"field": "prediction_id", "problem": f"claimed by {operator}"}])


def _claimed(held: ReviewClaim) -> ClaimConflict:
    return ClaimConflict(held.operator, held.expires_at)


def live_claim(session: Session, prediction_id: str) -> ReviewClaim | None:
    return session.scalar(select(ReviewClaim).where(ReviewClaim.prediction_id == prediction_id,
                                                    ReviewClaim.expires_at > utcnow()))


def within(query, column, start: datetime | None, end: datetime | None):
    if start is not None:
        query = query.where(column >= start)
    if end is not None:
        query = query.where(column < end)
    return query


def review_queue(session: Session, opd: str | None = None, start: datetime | None = None,
                 end: datetime | None = None, page: int = 1, per_page: int = 50) -> Page:
    """Predictions flagged for review and not yet decided, least certain first; items are (prediction, claim)."""
    decided = exists().where(OverrideRecord.prediction_id == PredictionRecord.id)
    query = select(PredictionRecord).where(PredictionRecord.needs_review.is_(True), ~decided)
    if opd:
        query = query.where(PredictionRecord.opd == opd)
    query = within(query, PredictionRecord.created_at, start, end)
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    live = and_(ReviewClaim.prediction_id == PredictionRecord.id, ReviewClaim.expires_at > utcnow())
    rows = session.execute(query.add_columns(ReviewClaim).outerjoin(ReviewClaim, live).order_by(
        PredictionRecord.opd_confidence, PredictionRecord.opd_margin, PredictionRecord.created_at,
        PredictionRecord.id).limit(per_page).offset((page - 1) * per_page)).all()
    return Page([(row[0], row[1]) for row in rows], total, page, per_page)


def overrides_query(start: datetime | None = None, end: datetime | None = None, opd: str | None = None,
                    operator: str | None = None):
    """Decisions with their prediction, oldest first; `opd` matches the OPD before or after the decision."""
    query = select(OverrideRecord, PredictionRecord).join(PredictionRecord,
                                                          PredictionRecord.id == OverrideRecord.prediction_id)
    if opd:
        query = query.where((OverrideRecord.opd == opd) | (OverrideRecord.previous_opd == opd))
    if operator:
        query = query.where(OverrideRecord.operator == operator)
    return within(query, OverrideRecord.created_at, start, end).order_by(OverrideRecord.id)


def list_overrides(session: Session, query, page: int, per_page: int) -> Page:
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    rows = session.execute(query.limit(per_page).offset((page - 1) * per_page)).all()
    return Page([(row[0], row[1]) for row in rows], total, page, per_page)


EXPORT_COLUMNS = ("id", "prediction_id", "created_at", "operator", "action", "previous_category", "previous_opd",
                  "category", "opd", "reason", "external_id", "model_version", "predicted_at", "text")


def decision_row(record: OverrideRecord, prediction: PredictionRecord) -> dict:
    """One exported decision: who, when, from what, to what, why, and the (masked) complaint it is about."""
    return {"id": record.id, "prediction_id": record.prediction_id, "created_at": as_utc(record.created_at).isoformat(),
            "operator": record.operator, "action": record.action, "previous_category": record.previous_category,
            "previous_opd": record.previous_opd, "category": record.category, "opd": record.opd,
            "reason": record.reason, "external_id": prediction.external_id, "model_version": prediction.model_version,
            "predicted_at": as_utc(prediction.created_at).isoformat(), "text": prediction.text}
