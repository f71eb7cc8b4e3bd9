"""indexes for scale

Lookups that a large partnership made slow, each given the index it reads.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 17:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a bounce or an out-of-office reply names its person by address, in any case
    op.create_index("ix_person_email_lower", "person", [sa.text("lower(email)")], unique=False)
    # a Slack reply names its person by Slack id
    op.create_index("ix_person_slack_id", "person", ["slack_id"], unique=False)
    # a reply is matched to the message it answers, and that message to its actions
    op.create_index("ix_outbox_message_id", "outbox", ["message_id"], unique=False)
    op.create_index(
        "ix_audit_outbox",
        "audit_event",
        ["outbox_id"],
        unique=False,
        sqlite_where=sa.text("outbox_id IS NOT NULL"),
        postgresql_where=sa.text("outbox_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_audit_outbox", table_name="audit_event")
    op.drop_index("ix_outbox_message_id", table_name="outbox")
    op.drop_index("ix_person_slack_id", table_name="person")
    op.drop_index("ix_person_email_lower", table_name="person")
