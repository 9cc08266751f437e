"""household number (户号) from the roster

Revision ID: 3e7f0c2a91b4
Revises: 5e7a9c3d2f14
Create Date: 2026-11-30 06:05:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '3e7f0c2a91b4'
down_revision = '5e7a9c3d2f14'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('household', schema=None) as batch_op:
        batch_op.add_column(sa.Column('number', sa.String(length=20), nullable=True))
        batch_op.create_index(batch_op.f('ix_household_number'), ['number'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('household', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_household_number'))
        batch_op.drop_column('number')
