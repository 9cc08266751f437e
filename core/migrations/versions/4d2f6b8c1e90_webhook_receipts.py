"""Webhook receipts (a repeated provider webhook acts once)

Revision ID: 4d2f6b8c1e90
Revises: 3c5e0a9d7b21
Create Date: 2026-11-30 05:20:00.000000
"""
from alembic import op
import sqlalchemy as sa
import core.models.base


revision = '4d2f6b8c1e90'
down_revision = '3c5e0a9d7b21'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('webhook_receipt',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_id', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('response', sa.Text(), nullable=True),
    sa.Column('created_at', core.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_receipt')),
    sa.UniqueConstraint('call_id', 'key', name='uq_webhook_receipt_call_key')
    )
    with op.batch_alter_table('webhook_receipt', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhook_receipt_created_at'), ['created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('webhook_receipt', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webhook_receipt_created_at'))
    op.drop_table('webhook_receipt')
