"""portfolio capital_changed_at: a change of total_capital starts a new drawdown peak

Revision ID: 0006
Revises: 0003
Create Date: 2026-12-03 07:40:00

"""
from alembic import op
import sqlalchemy as sa

import lts.models.types


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('portfolios', schema=None) as batch_op:
        batch_op.add_column(sa.Column('capital_changed_at',
                                      lts.models.types.UTCDateTime(timezone=True),
                                      nullable=True))


def downgrade():
    with op.batch_alter_table('portfolios', schema=None) as batch_op:
        batch_op.drop_column('capital_changed_at')
