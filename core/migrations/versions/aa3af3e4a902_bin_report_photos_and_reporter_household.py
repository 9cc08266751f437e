"""Photos on bin reports, and the household a reporter's phone matched (for 环境卫生 points)

Revision ID: aa3af3e4a902
Revises: 72ccb52a078c
Create Date: 2026-11-30 08:55:49.674002
"""
from alembic import op
import sqlalchemy as sa
import core.models.base


revision = 'aa3af3e4a902'
down_revision = '72ccb52a078c'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('bin_photo',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('bin_id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=False),
    sa.Column('file', sa.String(length=80), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('at', core.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['bin_id'], ['rubbish_bin.id'], name=op.f('fk_bin_photo_bin_id_rubbish_bin')),
    sa.ForeignKeyConstraint(['report_id'], ['bin_report.id'], name=op.f('fk_bin_photo_report_id_bin_report')),
    sa.ForeignKeyConstraint(['request_id'], ['request.id'], name=op.f('fk_bin_photo_request_id_request')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bin_photo')),
    sa.UniqueConstraint('file', name=op.f('uq_bin_photo_file'))
    )
    with op.batch_alter_table('bin_photo', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bin_photo_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_bin_photo_bin_id'), ['bin_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_bin_photo_request_id'), ['request_id'], unique=False)

    with op.batch_alter_table('bin_report', schema=None) as batch_op:
        batch_op.add_column(sa.Column('household_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_bin_report_household_id_household'), 'household', ['household_id'], ['id'])



def downgrade() -> None:
    with op.batch_alter_table('bin_report', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_bin_report_household_id_household'), type_='foreignkey')
        batch_op.drop_column('household_id')

    with op.batch_alter_table('bin_photo', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bin_photo_request_id'))
        batch_op.drop_index(batch_op.f('ix_bin_photo_bin_id'))
        batch_op.drop_index(batch_op.f('ix_bin_photo_at'))

    op.drop_table('bin_photo')
