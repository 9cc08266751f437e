"""band.protocol: mqtt bands and watch-protocol watches

Revision ID: 7c1e5a9d2b40
Revises: 3e7f0c2a91b4
Create Date: 2026-11-30 05:15:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '7c1e5a9d2b40'
down_revision = '3e7f0c2a91b4'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('band', schema=None) as batch_op:
        batch_op.add_column(sa.Column('protocol', sa.String(length=16), server_default='mqtt', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('band', schema=None) as batch_op:
        batch_op.drop_column('protocol')
