"""帮我卖 market listings and buyer interest

Revision ID: 6a1d4e8b2c30
Revises: 8b3d5f1a7c62
Create Date: 2026-11-30 06:40:00.000000
"""
from alembic import op
import sqlalchemy as sa

import core.models.base


revision = '6a1d4e8b2c30'
down_revision = '8b3d5f1a7c62'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('market_listing',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=True),
    sa.Column('household_id', sa.Integer(), nullable=False),
    sa.Column('courtyard_id', sa.Integer(), nullable=False),
    sa.Column('village_id', sa.Integer(), nullable=False),
    sa.Column('town_id', sa.Integer(), nullable=False),
    sa.Column('item', sa.String(length=60), nullable=False),
    sa.Column('quantity', sa.Numeric(precision=10, scale=2), nullable=False),
    sa.Column('unit', sa.String(length=10), nullable=False),
    sa.Column('price', sa.Numeric(precision=10, scale=2), nullable=False),
    sa.Column('note', sa.String(length=200), nullable=False),
    sa.Column('photo_url', sa.String(length=300), nullable=False),
    sa.Column('seller_label', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', core.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('closed_at', core.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['courtyard_id'], ['courtyard.id'], name=op.f('fk_market_listing_courtyard_id_courtyard')),
    sa.ForeignKeyConstraint(['created_by_id'], ['staff_user.id'], name=op.f('fk_market_listing_created_by_id_staff_user')),
    sa.ForeignKeyConstraint(['household_id'], ['household.id'], name=op.f('fk_market_listing_household_id_household')),
    sa.ForeignKeyConstraint(['request_id'], ['request.id'], name=op.f('fk_market_listing_request_id_request')),
    sa.ForeignKeyConstraint(['town_id'], ['town.id'], name=op.f('fk_market_listing_town_id_town')),
    sa.ForeignKeyConstraint(['village_id'], ['village.id'], name=op.f('fk_market_listing_village_id_village')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_market_listing'))
    )
    with op.batch_alter_table('market_listing', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_market_listing_courtyard_id'), ['courtyard_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_market_listing_household_id'), ['household_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_market_listing_request_id'), ['request_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_market_listing_town_id'), ['town_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_market_listing_village_id'), ['village_id'], unique=False)
        batch_op.create_index('ix_market_listing_status_village', ['status', 'village_id'], unique=False)

    op.create_table('market_interest',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('listing_id', sa.Integer(), nullable=False),
    sa.Column('buyer_name', sa.String(length=40), nullable=False),
    sa.Column('buyer_phone', sa.String(length=20), nullable=False),
    sa.Column('message', sa.String(length=200), nullable=False),
    sa.Column('created_at', core.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('connected_at', core.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['listing_id'], ['market_listing.id'], name=op.f('fk_market_interest_listing_id_market_listing')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_market_interest'))
    )
    with op.batch_alter_table('market_interest', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_market_interest_listing_id'), ['listing_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('market_interest', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_market_interest_listing_id'))
    op.drop_table('market_interest')
    with op.batch_alter_table('market_listing', schema=None) as batch_op:
        batch_op.drop_index('ix_market_listing_status_village')
        batch_op.drop_index(batch_op.f('ix_market_listing_village_id'))
        batch_op.drop_index(batch_op.f('ix_market_listing_town_id'))
        batch_op.drop_index(batch_op.f('ix_market_listing_request_id'))
        batch_op.drop_index(batch_op.f('ix_market_listing_household_id'))
        batch_op.drop_index(batch_op.f('ix_market_listing_courtyard_id'))
    op.drop_table('market_listing')
