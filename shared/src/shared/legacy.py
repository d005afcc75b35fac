"""Adopting, in place, a database that the original Go service (GORM AutoMigrate) left.

GORM made every string ``longtext``, times ``datetime(3)``, called the genre column
``genres``, put no unique index on email, and one early version stored a password in
plain text. :func:`adopt` turns such a database into wadah's schema without losing a
row: strings become ``VARCHAR(255)``, emails are normalised and made unique among live
users, plain-text passwords are hashed (bcrypt ones stay and are upgraded at their
owner's next login).

Everything that could stop a constraint from being added is checked first, and if
anything would, :class:`LegacyConflict` lists the rows and nothing at all is changed.
MySQL cannot roll back DDL, so "check everything, then change" is the only safe order.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from shared.emails import InvalidEmail, normalize_email
from shared.passwords import hash_password

MAX_TEXT = 255
MAX_YEAR = 2**31 - 1
MAX_CONTENT_BYTES = 2**24 - 1  # MEDIUMTEXT


@dataclass(frozen=True)
class Conflict:
    problem: str
    rows: list[tuple[object, ...]]

    def __str__(self) -> str:
        lines = [f"{self.problem} ({len(self.rows)}):"]
        lines += [f"  {row}" for row in self.rows]
        return "\n".join(lines)


class LegacyConflict(Exception):
    """The existing data breaks a constraint wadah needs; nothing was changed."""

    def __init__(self, conflicts: list[Conflict]) -> None:
        self.conflicts = conflicts
        super().__init__(
            "the existing database cannot be migrated; nothing was changed. "
            "Fix these rows and run the migration again:\n" + "\n".join(map(str, conflicts))
        )


def is_legacy(conn: Connection) -> bool:
    """True when the original's tables are there (wadah's first migration has not run)."""
    return "users" in inspect(conn).get_table_names()


def email_conflicts(conn: Connection) -> list[Conflict]:
    """Live users whose email is not one valid address, or is another live user's once normalised.

    The rule is :func:`shared.emails.normalize_email`, in Python, because no SQL collation
    says what it says (NFKC, IDNA, one addr-spec). Deleted users may share an address and
    keep an invalid one: no one logs in as them, and the unique index leaves them out.
    """
    invalid: list[tuple[object, ...]] = []
    owners: dict[str, list[int]] = defaultdict(list)
    for user_id, email in conn.execute(text("SELECT id, email FROM users WHERE deleted_at IS NULL ORDER BY id")):
        try:
            owners[normalize_email(email or "")].append(user_id)
        except InvalidEmail as exc:
            invalid.append((user_id, email, str(exc)))
    shared: list[tuple[object, ...]] = [
        (email, ",".join(map(str, ids))) for email, ids in sorted(owners.items()) if len(ids) > 1
    ]
    conflicts = []
    if shared:
        conflicts.append(Conflict("live users sharing an email once normalised (email, user ids)", shared))
    if invalid:
        conflicts.append(Conflict("live users whose email is not one valid address (id, email, why)", invalid))
    return conflicts


def normalise_emails(conn: Connection) -> int:
    """Store every email in its normalised form; run only after :func:`email_conflicts` found none.

    A deleted user's invalid address stays as it is (no form of it is right).
    """
    changed = 0
    for user_id, email in conn.execute(text("SELECT id, email FROM users ORDER BY id")).all():
        try:
            normal = normalize_email(email or "")
        except InvalidEmail:
            continue
        if normal != email:
            conn.execute(text("UPDATE users SET email = :e WHERE id = :id"), {"e": normal, "id": user_id})
            changed += 1
    return changed


_CHECKS: list[tuple[str, str]] = [
    (
        "blogs whose user does not exist (blog id, user_id)",
        "SELECT b.id, b.user_id FROM blogs b LEFT JOIN users u ON u.id = b.user_id WHERE u.id IS NULL ORDER BY b.id",
    ),
    *[
        (
            f"{table}.{column} longer than {MAX_TEXT} characters (id, length)",
            f"SELECT id, CHAR_LENGTH({column}) FROM {table} WHERE CHAR_LENGTH({column}) > {MAX_TEXT} ORDER BY id",
        )
        for table, column in [
            ("users", "name"),
            ("users", "email"),
            ("users", "password"),
            ("books", "title"),
            ("books", "author"),
            ("books", "genres"),
            ("blogs", "title"),
        ]
    ],
    (
        f"blogs.content longer than {MAX_CONTENT_BYTES} bytes, MEDIUMTEXT's limit (id, bytes)",
        f"SELECT id, LENGTH(CONVERT(content USING utf8mb4)) AS n FROM blogs HAVING n > {MAX_CONTENT_BYTES} ORDER BY id",
    ),
    (
        "books.year outside a 32-bit integer (id, year)",
        f"SELECT id, year FROM books WHERE ABS(year) > {MAX_YEAR} ORDER BY id",
    ),
]


def find_conflicts(conn: Connection) -> list[Conflict]:
    conflicts = email_conflicts(conn)
    for problem, sql in _CHECKS:
        rows = [tuple(r) for r in conn.execute(text(sql))]
        if rows:
            conflicts.append(Conflict(problem, rows))
    return conflicts


def _hash_plain_text_passwords(conn: Connection) -> int:
    rows = conn.execute(
        text(
            "SELECT id, password FROM users WHERE password <> '' "
            "AND password NOT LIKE '$2_$%' AND password NOT LIKE '$argon2%'"
        )
    ).all()
    for user_id, password in rows:
        conn.execute(
            text("UPDATE users SET password = :p WHERE id = :id"),
            {"p": hash_password(password), "id": user_id},
        )
    return len(rows)


_TIMES = (
    "MODIFY created_at DATETIME(6) NOT NULL, MODIFY updated_at DATETIME(6) NOT NULL, MODIFY deleted_at DATETIME(6) NULL"
)

_CONVERT = [
    # Fill the NULLs GORM allowed, so NOT NULL can be added.
    "UPDATE users SET name = COALESCE(name, ''), email = LOWER(TRIM(COALESCE(email, ''))), "
    "password = COALESCE(password, ''), created_at = COALESCE(created_at, NOW(6)), "
    "updated_at = COALESCE(updated_at, created_at)",
    "UPDATE books SET title = COALESCE(title, ''), author = COALESCE(author, ''), "
    "genres = COALESCE(genres, ''), year = COALESCE(year, 0), created_at = COALESCE(created_at, NOW(6)), "
    "updated_at = COALESCE(updated_at, created_at)",
    "UPDATE blogs SET title = COALESCE(title, ''), content = COALESCE(content, ''), "
    "created_at = COALESCE(created_at, NOW(6)), updated_at = COALESCE(updated_at, created_at)",
    "ALTER TABLE users CONVERT TO CHARACTER SET utf8mb4",
    "ALTER TABLE books CONVERT TO CHARACTER SET utf8mb4",
    "ALTER TABLE blogs CONVERT TO CHARACTER SET utf8mb4",
    "ALTER TABLE users MODIFY name VARCHAR(255) NOT NULL, MODIFY email VARCHAR(255) NOT NULL, "
    f"MODIFY password VARCHAR(255) NOT NULL, {_TIMES}, "
    "ADD COLUMN is_live SMALLINT AS (CASE WHEN deleted_at IS NULL THEN 1 END) VIRTUAL, "
    "ADD UNIQUE INDEX uq_users_email_live (email, is_live)",
    "ALTER TABLE books MODIFY title VARCHAR(255) NOT NULL, MODIFY author VARCHAR(255) NOT NULL, "
    f"CHANGE genres genre VARCHAR(255) NOT NULL, MODIFY year INT NOT NULL, {_TIMES}",
    "ALTER TABLE blogs MODIFY user_id BIGINT UNSIGNED NOT NULL, MODIFY title VARCHAR(255) NOT NULL, "
    f"MODIFY content MEDIUMTEXT NOT NULL, {_TIMES}, "
    "ADD COLUMN word_count INT NULL, ADD COLUMN reading_minutes INT NULL",
]


def check_adoptable(conn: Connection) -> None:
    """Raise (LegacyConflict listing the rows) unless :func:`adopt` can succeed; reads only."""
    if conn.dialect.name != "mysql":
        raise RuntimeError("only a MySQL database left by the original service can be adopted")
    conflicts = find_conflicts(conn)
    if conflicts:
        raise LegacyConflict(conflicts)


def adopt(conn: Connection) -> None:
    """Convert the original's schema and data to wadah's; raise LegacyConflict first if it cannot."""
    check_adoptable(conn)
    for statement in _CONVERT[:3]:
        conn.execute(text(statement))
    _hash_plain_text_passwords(conn)
    for statement in _CONVERT[3:]:
        conn.execute(text(statement))
