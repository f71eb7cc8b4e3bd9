"""outbox queue index

Each delivery pass takes the oldest pending rows of one channel: with this index it reads
just those, in order, instead of every pending row (and, on SQLite, sorting them whole with
their payloads) for every batch.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 01:40:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_outbox_queue", "outbox", ["status", "channel", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_outbox_queue", table_name="outbox")
