"""band.device_settings: what a watch confirmed it holds (SOS numbers, phonebook); watch_command: its
unacknowledged commands

Revision ID: 9d4f2c7a1e63
Revises: 7c1e5a9d2b40
Create Date: 2026-11-30 05:25:00.000000
"""
from alembic import op
import sqlalchemy as sa
import core.models.base


revision = '9d4f2c7a1e63'
down_revision = '7c1e5a9d2b40'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('band', schema=None) as batch_op:
        batch_op.add_column(sa.Column('device_settings', sa.JSON(), server_default='{}', nullable=False))
    op.create_table('watch_command',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('band_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('content', sa.String(length=200), nullable=False),
    sa.Column('created_at', core.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['band_id'], ['band.id'], name=op.f('fk_watch_command_band_id_band')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_watch_command')),
    sa.UniqueConstraint('band_id', 'kind', name='uq_watch_command_band_kind')
    )


def downgrade() -> None:
    op.drop_table('watch_command')
    with op.batch_alter_table('band', schema=None) as batch_op:
        batch_op.drop_column('device_settings')
