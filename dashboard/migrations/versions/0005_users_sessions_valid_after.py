"""``users.sessions_valid_after``: sign-in sessions issued before it are over.

A password reset and disabling a user set it (to the time of the change, UTC), in the same
transaction as the change, so ending a user's sessions no longer depends on the audit log: an
operator who prunes or deletes audit rows (a retention job) no longer brings ended sessions back.
NULL means no restriction (a user whose password was never reset nor disabled).

The upgrade fills it from the audit log the sessions were ended by until now (the newest
``password_reset`` or ``user_disabled`` row of each user), so sessions ended before the upgrade
stay ended, and sessions that were valid keep working.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("sessions_valid_after", sa.DateTime(timezone=True), nullable=True)
        )
    # Same text on SQLite (times stored as text, sorting as time) and PostgreSQL (timestamptz).
    op.execute(
        "UPDATE users SET sessions_valid_after = ("
        "SELECT max(audit_log.at) FROM audit_log WHERE audit_log.email = users.email "
        "AND audit_log.event IN ('password_reset', 'user_disabled'))"
    )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("sessions_valid_after")
