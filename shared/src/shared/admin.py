"""``python -m shared.admin grant|revoke EMAIL``: make a user an operator, or stop them being one.

The only way to change the role: no HTTP route can, so a stolen token or a bug in the
API cannot make anyone an operator. Whoever runs this already holds the database's
credentials. API processes notice within ``AUTH_USER_CACHE_SECONDS``.
Exit status: 0 done, 1 no live user has that email, 2 bad usage.
"""

from __future__ import annotations

import asyncio
import sys

from sqlalchemy import bindparam, select, update

from shared.db import Database, Query
from shared.models import User
from shared.settings import Settings, get_settings

USAGE = "usage: python -m shared.admin grant|revoke EMAIL"
# updated_at is left alone: the role is not an edit of the user's profile.
SET_OPERATOR = Query(
    update(User)
    # b_ names: SQLAlchemy reserves a column's own name in an UPDATE's binds.
    .where(User.email == bindparam("b_email"), User.deleted_at.is_(None))
    .values(operator=bindparam("b_flag"), updated_at=User.updated_at)
)

FIND_LIVE = Query(select(User.id).where(User.email == bindparam("email"), User.deleted_at.is_(None)))


async def set_operator(settings: Settings, email: str, operator: bool) -> bool:
    """True if a live user has ``email`` (whether or not their role changed)."""
    db = Database(settings)
    try:
        await db.connect()
        outcome = await db.execute(SET_OPERATOR, b_email=email.strip().lower(), b_flag=1 if operator else 0)
        if outcome.rowcount:
            return True
        # MySQL counts changed rows only: granting to an operator changes nothing, yet is no error.
        return await db.fetch_one(FIND_LIVE, email=email.strip().lower()) is not None
    finally:
        await db.close()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] not in ("grant", "revoke") or "@" not in args[1]:
        print(USAGE, file=sys.stderr)
        return 2
    action, email = args
    if not asyncio.run(set_operator(get_settings(), email, action == "grant")):
        print(f"no live user has the email {email!r}", file=sys.stderr)
        return 1
    print(f"{email}: operator {'granted' if action == 'grant' else 'revoked'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
