"""asset pause: assets.paused_reason / paused_at, set when the broker refuses the credentials

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 14:05:00

"""
from alembic import op
import sqlalchemy as sa

import lts.models.types


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('assets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('paused_reason', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('paused_at', lts.models.types.UTCDateTime(timezone=True),
                                      nullable=True))


def downgrade():
    with op.batch_alter_table('assets', schema=None) as batch_op:
        batch_op.drop_column('paused_at')
        batch_op.drop_column('paused_reason')
