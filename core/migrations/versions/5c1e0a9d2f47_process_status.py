"""process status rows for cross-process health and metrics

Revision ID: 5c1e0a9d2f47
Revises: 2a87b1ed3d41
Create Date: 2026-11-30 05:20:00.000000
"""
from alembic import op
import sqlalchemy as sa
import core.models.base


revision = '5c1e0a9d2f47'
down_revision = '2a87b1ed3d41'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('process_status',
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('started_at', core.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('heartbeat_at', core.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('state', sa.JSON(), nullable=False),
    sa.Column('counters', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_process_status'))
    )
    with op.batch_alter_table('process_status', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_process_status_heartbeat_at'), ['heartbeat_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('process_status', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_process_status_heartbeat_at'))
    op.drop_table('process_status')
