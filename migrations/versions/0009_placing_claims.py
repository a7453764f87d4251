"""placing claims: orders.placed_by and process_claims, so reconciliation spares orders in flight

Revision ID: 0009
Revises: 0003
Create Date: 2026-12-03 07:40:00

"""
from alembic import op
import sqlalchemy as sa

import lts.models.types


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('process_claims',
    sa.Column('holder', sa.String(length=200), nullable=False),
    sa.Column('expires_at', lts.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('holder', name=op.f('pk_process_claims'))
    )
    with op.batch_alter_table('process_claims', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_process_claims_expires_at'), ['expires_at'], unique=False)

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('placed_by', sa.String(length=200), nullable=True))


def downgrade():
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_column('placed_by')

    with op.batch_alter_table('process_claims', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_process_claims_expires_at'))

    op.drop_table('process_claims')
