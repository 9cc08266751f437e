"""Help call: the TV box that started it (starts per box are limited)

Revision ID: 5e7a9c3d2f14
Revises: 4d2f6b8c1e90
Create Date: 2026-11-30 05:30:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '5e7a9c3d2f14'
down_revision = '4d2f6b8c1e90'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('help_call', schema=None) as batch_op:
        batch_op.add_column(sa.Column('box_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_help_call_box_id'), ['box_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('help_call', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_help_call_box_id'))
        batch_op.drop_column('box_id')
