"""Operator accounts: argon2 password hashes, creation and checking of credentials.

Used by the operators' pages and API (login, HTTP basic auth) and by `manage.py create-operator`.
"""
from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from .db import Operator

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


def create_operator(sessions: sessionmaker, username: str, password: str, role: str = "operator") -> Operator:
    username = username.strip()
    if not username or len(username) > MAX_USERNAME_CHARS or any(c.isspace() for c in username):
        raise AccountError("username", f"1 to {MAX_USERNAME_CHARS} characters, without spaces")
    if role not in ROLES:
        raise AccountError("role", f"must be one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD_CHARS:
        raise AccountError("password", f"at least {MIN_PASSWORD_CHARS} characters")
    operator = Operator(username=username, password_hash=_hasher.hash(password), role=role)
    try:
        with sessions.begin() as session:
            session.add(operator)
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
    if operator is None:
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


def list_operators(sessions: sessionmaker) -> list[Operator]:
    with sessions() as session:
        return list(session.scalars(select(Operator).order_by(Operator.username)))
