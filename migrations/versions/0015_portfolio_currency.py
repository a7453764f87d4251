"""portfolio currency: portfolios.currency, the ISO 4217 code its money is shown in (USD)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 16:50:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    # server_default: existing portfolios were all counted in USD (the old display).
    with op.batch_alter_table('portfolios', schema=None) as batch_op:
        batch_op.add_column(sa.Column('currency', sa.String(length=3), nullable=False,
                                      server_default='USD'))


def downgrade():
    with op.batch_alter_table('portfolios', schema=None) as batch_op:
        batch_op.drop_column('currency')
