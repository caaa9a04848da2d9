"""Administration: `python -m classifier.manage COMMAND`.

  db-upgrade                 bring the database (LAKSA_DATABASE_URL) to the newest schema
  create-api-key NAME        create an intake key; prints it once, stores only its hash
  revoke-api-key NAME        revoke an intake key
"""
from __future__ import annotations

import argparse
import sys

from sqlalchemy import update

from .db import ApiKey, create_api_key, make_engine, make_sessionmaker, upgrade, utcnow
from .serve import load_config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m classifier.manage", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("db-upgrade")
    commands.add_parser("create-api-key").add_argument("name")
    commands.add_parser("revoke-api-key").add_argument("name")
    args = parser.parse_args(argv)
    url = load_config()["LAKSA_DATABASE_URL"]
    upgrade(url)
    sessions = make_sessionmaker(make_engine(url))
    if args.command == "create-api-key":
        print(create_api_key(sessions, args.name))
    elif args.command == "revoke-api-key":
        with sessions.begin() as session:
            revoked = session.execute(update(ApiKey).where(ApiKey.name == args.name, ApiKey.revoked_at.is_(None))
                                      .values(revoked_at=utcnow())).rowcount
        if not revoked:
            print(f"error: no active key named {args.name!r}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
