"""asset decisions: the strategy's latest decision per asset, holds included

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 15:16:33

"""
from alembic import op
import sqlalchemy as sa

import lts.models.types


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('asset_decisions',
    sa.Column('asset_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('action', sa.String(length=8), nullable=False),
    sa.Column('side', sa.String(length=4), nullable=True),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('orders_placed', sa.Integer(), nullable=False),
    sa.Column('decided_at', lts.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("action IN ('open', 'close', 'hold')", name=op.f('ck_asset_decisions_action')),
    sa.CheckConstraint('orders_placed >= 0', name=op.f('ck_asset_decisions_orders_placed_non_negative')),
    sa.ForeignKeyConstraint(['asset_id'], ['assets.id'], name=op.f('fk_asset_decisions_asset_id_assets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('asset_id', name=op.f('pk_asset_decisions'))
    )


def downgrade():
    op.drop_table('asset_decisions')
