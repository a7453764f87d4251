"""paper broker: the simulated exchange's own order book (paper_orders)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 12:00:00

"""
from alembic import op
import sqlalchemy as sa

import lts.models.types


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('paper_orders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_order_id', sa.String(length=100), nullable=False),
    sa.Column('asset_id', sa.Integer(), nullable=False),
    sa.Column('side', sa.String(length=4), nullable=False),
    sa.Column('order_type', sa.String(length=8), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('quantity', sa.Double(), nullable=False),
    sa.Column('price', sa.Double(), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('fill_price', sa.Double(), nullable=True),
    sa.Column('commission', sa.Double(), nullable=False),
    sa.Column('stop_loss', sa.Double(), nullable=True),
    sa.Column('take_profit', sa.Double(), nullable=True),
    sa.Column('position_id', sa.Integer(), nullable=True),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('details', sa.JSON(), nullable=True),
    sa.Column('created_at', lts.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('filled_at', lts.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("side IN ('buy', 'sell')", name=op.f('ck_paper_orders_side')),
    sa.CheckConstraint("order_type IN ('market', 'limit', 'stop')", name=op.f('ck_paper_orders_order_type')),
    sa.CheckConstraint("status IN ('submitted', 'filled', 'cancelled', 'rejected')", name=op.f('ck_paper_orders_status')),
    sa.CheckConstraint("kind IN ('open', 'close', 'stop_loss', 'take_profit')", name=op.f('ck_paper_orders_kind')),
    sa.CheckConstraint("quantity > 0 OR status = 'rejected'", name=op.f('ck_paper_orders_quantity_positive')),
    sa.ForeignKeyConstraint(['asset_id'], ['assets.id'], name=op.f('fk_paper_orders_asset_id_assets'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_paper_orders')),
    sa.UniqueConstraint('client_order_id', name=op.f('uq_paper_orders_client_order_id'))
    )
    with op.batch_alter_table('paper_orders', schema=None) as batch_op:
        batch_op.create_index('ix_paper_orders_asset_id_status', ['asset_id', 'status'], unique=False)


def downgrade():
    with op.batch_alter_table('paper_orders', schema=None) as batch_op:
        batch_op.drop_index('ix_paper_orders_asset_id_status')

    op.drop_table('paper_orders')
