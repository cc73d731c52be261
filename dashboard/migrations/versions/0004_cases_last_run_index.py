"""An index on ``cases.last_run_id``: the cases a load inserted or changed, found without a scan.

A snapshot written after a load merges only the cases touched since the snapshot it starts from
(``last_run_id`` greater than that snapshot's run) into the previous snapshot's files, instead of
reading every case again (see :mod:`dashboard.snapshot`). A load's rows all carry the same, newest
run id, so the index grows at its end.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_cases_last_run_id", "cases", ["last_run_id"])


def downgrade() -> None:
    op.drop_index("ix_cases_last_run_id", table_name="cases")
