"""Rubbish bins with QR labels (爱环境) and their scans

Revision ID: 8b2d4f6a1c37
Revises: 9d4f2c7a1e63
Create Date: 2026-11-30 06:30:00.000000
"""
from alembic import op
import sqlalchemy as sa
import core.models.base


revision = '8b2d4f6a1c37'
down_revision = '9d4f2c7a1e63'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('rubbish_bin',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('courtyard_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('location', sa.String(length=200), nullable=False),
    sa.Column('lat', sa.Double(), nullable=True),
    sa.Column('lon', sa.Double(), nullable=True),
    sa.Column('cleaner_id', sa.Integer(), nullable=True),
    sa.Column('token', sa.String(length=32), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', core.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('open_request_id', sa.Integer(), nullable=True),
    sa.Column('scan_seq', sa.Integer(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['cleaner_id'], ['staff_user.id'], name=op.f('fk_rubbish_bin_cleaner_id_staff_user')),
    sa.ForeignKeyConstraint(['courtyard_id'], ['courtyard.id'], name=op.f('fk_rubbish_bin_courtyard_id_courtyard')),
    sa.ForeignKeyConstraint(['open_request_id'], ['request.id'], name=op.f('fk_rubbish_bin_open_request_id_request')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rubbish_bin')),
    sa.UniqueConstraint('courtyard_id', 'name', name='uq_rubbish_bin_courtyard_name'),
    sa.UniqueConstraint('token', name=op.f('uq_rubbish_bin_token'))
    )
    with op.batch_alter_table('rubbish_bin', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rubbish_bin_cleaner_id'), ['cleaner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_rubbish_bin_courtyard_id'), ['courtyard_id'], unique=False)

    op.create_table('bin_report',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('bin_id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('at', core.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['bin_id'], ['rubbish_bin.id'], name=op.f('fk_bin_report_bin_id_rubbish_bin')),
    sa.ForeignKeyConstraint(['request_id'], ['request.id'], name=op.f('fk_bin_report_request_id_request')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bin_report'))
    )
    with op.batch_alter_table('bin_report', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bin_report_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_bin_report_bin_id'), ['bin_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_bin_report_request_id'), ['request_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('bin_report', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bin_report_request_id'))
        batch_op.drop_index(batch_op.f('ix_bin_report_bin_id'))
        batch_op.drop_index(batch_op.f('ix_bin_report_at'))
    op.drop_table('bin_report')
    with op.batch_alter_table('rubbish_bin', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rubbish_bin_courtyard_id'))
        batch_op.drop_index(batch_op.f('ix_rubbish_bin_cleaner_id'))
    op.drop_table('rubbish_bin')
