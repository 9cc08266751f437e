"""band.device_settings: what a watch confirmed it holds (SOS numbers, phonebook)

Revision ID: 9d4f2c7a1e63
Revises: 7c1e5a9d2b40
Create Date: 2026-11-30 05:25:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '9d4f2c7a1e63'
down_revision = '7c1e5a9d2b40'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('band', schema=None) as batch_op:
        batch_op.add_column(sa.Column('device_settings', sa.JSON(), server_default='{}', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('band', schema=None) as batch_op:
        batch_op.drop_column('device_settings')
