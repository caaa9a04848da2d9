"""Operator accounts: argon2 password hashes, creation, checking of credentials, switching off and resetting.

Used by the operators' pages and API (login, HTTP basic auth, the admin page) and by `manage.py`.
"""
from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from .db import AccountEvent, Operator, ReviewClaim, utcnow

ROLES = ("operator", "admin")
MIN_PASSWORD_CHARS = 10
MAX_USERNAME_CHARS = 100
_hasher = PasswordHasher()
# Checked against when the username is unknown, so that a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not a password of anyone")


class AccountError(ValueError):
    """A refused account change; `field` names the offending input."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field}: {problem}")
        self.field, self.problem = field, problem


class UnknownOperator(AccountError):
    def __init__(self, username: str):
        super().__init__("username", f"no operator named {username!r}")


def check_password(password: str, username: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise AccountError("password", f"at least {MIN_PASSWORD_CHARS} characters")
    if len(username) >= 3 and username.casefold() in password.casefold():  # the first thing a guesser tries
        raise AccountError("password", "must not contain the username")


def create_operator(sessions: sessionmaker, username: str, password: str, role: str = "operator", *,
                    by: str) -> Operator:
    """A new account; `by` (the admin, or the command line and its system user) is recorded with it."""
    username = username.strip()
    if not username or len(username) > MAX_USERNAME_CHARS or any(c.isspace() for c in username):
        raise AccountError("username", f"1 to {MAX_USERNAME_CHARS} characters, without spaces")
    if role not in ROLES:
        raise AccountError("role", f"must be one of {', '.join(ROLES)}")
    check_password(password, username)
    operator = Operator(username=username, password_hash=_hasher.hash(password), role=role)
    try:
        with sessions.begin() as session:
            session.add_all([operator, AccountEvent(username=username, action="created", by=by)])
    except IntegrityError:
        raise AccountError("username", f"{username!r} already exists") from None
    return operator


def authenticate(sessions: sessionmaker, username: str, password: str) -> Operator | None:
    """The operator with these credentials, or None. Rehashes when argon2's parameters changed."""
    with sessions() as session:
        operator = session.scalar(select(Operator).where(Operator.username == username))
    try:
        _hasher.verify(operator.password_hash if operator else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if operator is None or operator.disabled_at is not None:
        return None
    if _hasher.check_needs_rehash(operator.password_hash):
        with sessions.begin() as session:
            session.get(Operator, operator.id).password_hash = _hasher.hash(password)
    return operator


def end_sign_ins(sessions: sessionmaker, operator_id: int) -> None:
    """Ends every sign-in of this operator, on every device: their cookies name the old epoch."""
    with sessions.begin() as session:
        session.execute(update(Operator).where(Operator.id == operator_id)
                        .values(session_epoch=Operator.session_epoch + 1))


def update_operator(sessions: sessionmaker, username: str, active: bool | None = None,
                    password: str | None = None, *, by: str) -> Operator:
    """Switch an account off or on and/or give it a new password; either ends its sign-ins everywhere.

    Switching it off also frees the complaints it claimed. The last active admin stays on, or nobody
    could manage the accounts from the pages. Each change is recorded with `by`, who made it.
    """
    if active is None and password is None:
        raise AccountError("body", "give active, password or both")
    if password is not None:
        check_password(password, username)
    with sessions.begin() as session:
        if active is False:  # a no-op write first: concurrent switch-offs of the last two admins queue up
            session.execute(update(Operator).where(Operator.role == "admin", Operator.disabled_at.is_(None))
                            .values(session_epoch=Operator.session_epoch))
        operator = session.scalar(select(Operator).where(Operator.username == username))
        if operator is None:
            raise UnknownOperator(username)
        if active is False:
            _keep_an_admin(session, operator)
            operator.disabled_at = operator.disabled_at or utcnow()
            session.execute(delete(ReviewClaim).where(ReviewClaim.operator == username))
        elif active:
            operator.disabled_at = None
        if password is not None:
            operator.password_hash = _hasher.hash(password)
        operator.session_epoch += 1
        changes = {"enabled" if active else "disabled": active is not None, "password": password is not None}
        session.add_all(AccountEvent(username=username, action=action, by=by) for action, made in changes.items()
                        if made)
    return operator


def _keep_an_admin(session, operator: Operator) -> None:
    others = session.scalar(select(func.count()).select_from(Operator).where(
        Operator.role == "admin", Operator.disabled_at.is_(None), Operator.id != operator.id))
    if operator.role == "admin" and operator.disabled_at is None and not others:
        raise AccountError("active", "the last active admin cannot be disabled")


def list_operators(sessions: sessionmaker) -> list[Operator]:
    with sessions() as session:
        return list(session.scalars(select(Operator).order_by(Operator.username)))


def recent_events(sessions: sessionmaker, limit: int = 50) -> list[AccountEvent]:
    """The latest changes to accounts, newest first."""
    with sessions() as session:
        return list(session.scalars(select(AccountEvent).order_by(AccountEvent.id.desc()).limit(limit)))
