"""statistics owner ids: statistics.portfolio_id / asset_id, backfilled from the key names

Authorization of a series joins on these columns instead of parsing its key
(``portfolio.<id>.<name>``, ``asset.<id>.<name>``); rows of portfolios or assets that
no longer exist keep no owner (administrators only), and the loop's own series
(``loop.tick_seconds``) has none by design.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 10:40:00

"""
import re

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

# The key names as the engine wrote them up to this revision (a copy on purpose: a
# migration must not change when the application's names do).
OWNED_KEY = re.compile(r"^(portfolio|asset)\.(\d+)\.[A-Za-z0-9_.\-]+$")


def upgrade():
    with op.batch_alter_table('statistics', schema=None) as batch_op:
        batch_op.add_column(sa.Column('portfolio_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('asset_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_statistics_portfolio_id'), ['portfolio_id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_statistics_asset_id'), ['asset_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_statistics_portfolio_id_portfolios'),
                                    'portfolios', ['portfolio_id'], ['id'], ondelete='CASCADE')
        batch_op.create_foreign_key(batch_op.f('fk_statistics_asset_id_assets'),
                                    'assets', ['asset_id'], ['id'], ondelete='CASCADE')
    backfill(op.get_bind())


def backfill(connection):
    """Give every owned key's rows the id its name carries, when that owner still exists."""
    statistics = sa.table('statistics', sa.column('key', sa.String),
                          sa.column('portfolio_id', sa.Integer),
                          sa.column('asset_id', sa.Integer))
    existing = {
        'portfolio': set(connection.scalars(sa.text('SELECT id FROM portfolios'))),
        'asset': set(connection.scalars(sa.text('SELECT id FROM assets'))),
    }
    keys = connection.scalars(sa.select(statistics.c.key).distinct()).all()
    for key in keys:
        match = OWNED_KEY.match(key)
        if not match or int(match.group(2)) not in existing[match.group(1)]:
            continue
        column = 'portfolio_id' if match.group(1) == 'portfolio' else 'asset_id'
        connection.execute(statistics.update().where(statistics.c.key == key)
                           .values({column: int(match.group(2))}))


def downgrade():
    with op.batch_alter_table('statistics', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_statistics_asset_id_assets'),
                                 type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_statistics_portfolio_id_portfolios'),
                                 type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_statistics_asset_id'))
        batch_op.drop_index(batch_op.f('ix_statistics_portfolio_id'))
        batch_op.drop_column('asset_id')
        batch_op.drop_column('portfolio_id')
