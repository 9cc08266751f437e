"""Alert notification call status

Revision ID: 7c41e0a2b9d5
Revises: b415ac347960
Create Date: 2026-11-30 05:30:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '7c41e0a2b9d5'
down_revision = 'b415ac347960'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('alert_notification', schema=None) as batch_op:
        batch_op.add_column(sa.Column('call_status', sa.String(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('alert_notification', schema=None) as batch_op:
        batch_op.drop_column('call_status')
