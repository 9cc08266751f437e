"""Village duty phone (值班电话)

Revision ID: 3c5e0a9d7b21
Revises: 7c41e0a2b9d5
Create Date: 2026-11-30 05:20:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '3c5e0a9d7b21'
down_revision = '7c41e0a2b9d5'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('village', schema=None) as batch_op:
        batch_op.add_column(sa.Column('duty_phone', sa.String(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('village', schema=None) as batch_op:
        batch_op.drop_column('duty_phone')
