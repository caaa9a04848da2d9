"""Administration: `python -m classifier.manage COMMAND`.

  db-upgrade                 bring the database (LAKSA_DATABASE_URL) to the newest schema
  create-api-key NAME        create an intake key; prints it once, stores only its hash
  revoke-api-key NAME        revoke an intake key
  export-corrections OUT     write operators' confirmed/overridden labels as a labelled CSV
  create-operator USERNAME [--role operator|admin]
                             create an operator account; the password comes from
                             LAKSA_OPERATOR_PASSWORD, else it is asked for (twice)
  set-password USERNAME      give an account a new password (as create-operator asks for it)
  disable-operator USERNAME  switch an account off: it signs nobody in, its claims are freed
  enable-operator USERNAME   switch it on again
  list-operators             every account, its role and whether it is active
(Each change to an account ends its sign-ins on every device.)
"""
from __future__ import annotations

import argparse
import getpass
import os
import sys

from alembic.util.exc import CommandError as AlembicError
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from . import accounts
from .cli import fail, print_table, reason
from .config import load_config
from .corrections import export_corrections
from .db import ApiKey, create_api_key, make_engine, make_sessionmaker, prepare, utcnow
from .registry import load_registry


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m classifier.manage", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("db-upgrade")
    commands.add_parser("create-api-key").add_argument("name")
    commands.add_parser("revoke-api-key").add_argument("name")
    export = commands.add_parser("export-corrections")
    export.add_argument("out")
    export.add_argument("--registry", help="registry folder the file must train against (default: LAKSA_REGISTRY_DIR)")
    operator = commands.add_parser("create-operator")
    operator.add_argument("username")
    operator.add_argument("--role", choices=accounts.ROLES, default="operator")
    for command in ("set-password", "disable-operator", "enable-operator"):
        commands.add_parser(command).add_argument("username")
    commands.add_parser("list-operators")
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except (SQLAlchemyError, AlembicError, OSError, ValueError, EOFError) as error:
        return fail(f"{args.command}: {reason(error)}")


def _run(args: argparse.Namespace) -> int:
    config = load_config()
    url = config["LAKSA_DATABASE_URL"]
    # Like the service: where a deploy step runs db-upgrade once (LAKSA_MIGRATE=0), nothing else migrates.
    prepare(url, migrate=args.command == "db-upgrade" or config["LAKSA_MIGRATE"] == "1")
    sessions = make_sessionmaker(make_engine(url))
    if args.command == "export-corrections":
        registry = load_registry(args.registry or config["LAKSA_REGISTRY_DIR"])
        print(f"{export_corrections(url, args.out, registry)} corrections written to {args.out}")
    elif args.command in ACCOUNT_COMMANDS:
        return _change_account(sessions, args)
    elif args.command == "create-api-key":
        if not args.name.strip():
            return fail("create-api-key: a key needs a name (it is what the stored predictions record)")
        try:
            print(create_api_key(sessions, args.name.strip()))
        except IntegrityError:
            return fail(f"create-api-key: a key named {args.name.strip()!r} exists already (revoked keys keep "
                        "their names)")
    elif args.command == "revoke-api-key":
        with sessions.begin() as session:
            revoked = session.execute(update(ApiKey).where(ApiKey.name == args.name, ApiKey.revoked_at.is_(None))
                                      .values(revoked_at=utcnow())).rowcount
        if not revoked:
            return fail(f"no active key named {args.name!r}")
    return 0


ACCOUNT_COMMANDS = ("create-operator", "set-password", "disable-operator", "enable-operator", "list-operators")


def _change_account(sessions, args: argparse.Namespace) -> int:
    by = f"manage.py ({_system_user()})"  # who the account events name
    try:
        if args.command == "list-operators":
            print_table(["username", "role", "status"], [[o.username, o.role, "disabled" if o.disabled_at else "active"]
                                                         for o in accounts.list_operators(sessions)])
        elif args.command == "create-operator":
            accounts.create_operator(sessions, args.username, _new_password(args.username), args.role, by=by)
            print(f"created {args.role} {args.username}")
        elif args.command == "set-password":
            accounts.update_operator(sessions, args.username, password=_new_password(args.username), by=by)
            print(f"new password set for {args.username}; their sign-ins have ended")
        else:
            active = args.command == "enable-operator"
            accounts.update_operator(sessions, args.username, active=active, by=by)
            print(f"{args.username} is {'active' if active else 'disabled'}; their sign-ins have ended")
    except accounts.AccountError as error:
        return fail(error)
    return 0


def _system_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in the environment and the uid has no passwd entry
        return f"uid {os.getuid()}"


def _new_password(username: str) -> str:
    """From LAKSA_OPERATOR_PASSWORD (scripts), else asked for twice without echo."""
    password = os.environ.get("LAKSA_OPERATOR_PASSWORD")
    if password is None:
        password = getpass.getpass(f"password for {username}: ")
        if getpass.getpass("again: ") != password:
            raise accounts.AccountError("password", "the two entries differ")
    return password


if __name__ == "__main__":
    sys.exit(main())
