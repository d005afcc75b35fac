"""users: one stored form per email, compared byte for byte; a token version per user.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

Emails were stored lower-cased and compared under MySQL's default collation, which is
accent-insensitive: the login lookup found ``alice@example.com`` for
``alice@exámple.com`` while the login throttle counted the two apart. Now every email is
stored in :func:`shared.emails.normalize_email`'s form and the column's collation is
``utf8mb4_bin``, so the unique index, the login lookup and the throttle key are one rule.

Existing rows are checked first: if two live users would share an address once
normalised, or a live user's address is not one valid address, the migration lists
them and changes nothing (as adopting the original's database does, ``shared.legacy``);
``python -m shared.migrate`` exits 2. Otherwise the collation changes first (values that
were distinct under the old one stay distinct under a stricter one), then each row that
is not yet normalised is rewritten.

``token_version`` counts a user's password changes; a token is valid only with the
version it was issued under (``api.auth``). Tokens issued before this migration carry
none, which counts as 0, so they keep working until their owner changes the password.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shared.legacy import LegacyConflict, email_conflicts, normalise_emails

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    conflicts = email_conflicts(bind)
    if conflicts:
        raise LegacyConflict(conflicts)
    if bind.dialect.name == "mysql":
        op.execute(
            "ALTER TABLE users MODIFY email VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL, "
            "ADD COLUMN token_version INT NOT NULL DEFAULT 0"
        )
    else:
        op.add_column("users", sa.Column("token_version", sa.Integer, nullable=False, server_default="0"))
    normalise_emails(bind)


def downgrade() -> None:
    if op.get_bind().dialect.name == "mysql":
        op.execute(
            "ALTER TABLE users MODIFY email VARCHAR(255) CHARACTER SET utf8mb4 NOT NULL, DROP COLUMN token_version"
        )
    else:
        with op.batch_alter_table("users") as batch:
            batch.drop_column("token_version")
