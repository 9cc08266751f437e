"""tv box voice guide

Revision ID: 8b3d5f1a7c62
Revises: 8b2d4f6a1c37
Create Date: 2026-11-30 06:40:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '8b3d5f1a7c62'
down_revision = '8b2d4f6a1c37'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('tv_box', schema=None) as batch_op:
        batch_op.add_column(sa.Column('voice_guide', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('tv_box', schema=None) as batch_op:
        batch_op.drop_column('voice_guide')
