"""paper bar checks and stale data: the newest bar checked per resting paper order and per
watched position; assets.max_data_age_minutes

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 07:30:00

"""
from alembic import op
import sqlalchemy as sa

import lts.models.types


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('paper_position_checks',
    sa.Column('position_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('asset_id', sa.Integer(), nullable=False),
    sa.Column('last_checked_bar', lts.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['asset_id'], ['assets.id'], name=op.f('fk_paper_position_checks_asset_id_assets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('position_id', name=op.f('pk_paper_position_checks'))
    )
    with op.batch_alter_table('paper_position_checks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_paper_position_checks_asset_id'), ['asset_id'], unique=False)

    with op.batch_alter_table('paper_orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_checked_bar', lts.models.types.UTCDateTime(timezone=True), nullable=True))

    with op.batch_alter_table('assets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('max_data_age_minutes', sa.Double(), nullable=True))


def downgrade():
    with op.batch_alter_table('assets', schema=None) as batch_op:
        batch_op.drop_column('max_data_age_minutes')

    with op.batch_alter_table('paper_orders', schema=None) as batch_op:
        batch_op.drop_column('last_checked_bar')

    with op.batch_alter_table('paper_position_checks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_paper_position_checks_asset_id'))

    op.drop_table('paper_position_checks')
