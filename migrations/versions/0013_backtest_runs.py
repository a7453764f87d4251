"""backtest runs: stored backtests started from the dashboard or the API, with their report

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 16:30:00

"""
from alembic import op
import sqlalchemy as sa

import lts.models.types


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('backtest_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('portfolio_id', sa.Integer(), nullable=True),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('progress_done', sa.Integer(), nullable=False),
    sa.Column('progress_total', sa.Integer(), nullable=False),
    sa.Column('date_from', lts.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('date_to', lts.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('parameters', sa.JSON(), nullable=False),
    sa.Column('plugin_versions', sa.JSON(), nullable=True),
    sa.Column('metrics', sa.JSON(), nullable=True),
    sa.Column('equity', sa.JSON(), nullable=True),
    sa.Column('trades', sa.JSON(), nullable=True),
    sa.Column('candles', sa.JSON(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('runner', sa.String(length=200), nullable=True),
    sa.Column('heartbeat_at', lts.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', lts.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_at', lts.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', lts.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name=op.f('ck_backtest_runs_status')),
    sa.CheckConstraint('progress_done >= 0 AND progress_total >= 0', name=op.f('ck_backtest_runs_progress')),
    sa.ForeignKeyConstraint(['portfolio_id'], ['portfolios.id'], name=op.f('fk_backtest_runs_portfolio_id_portfolios'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_backtest_runs_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_backtest_runs'))
    )
    with op.batch_alter_table('backtest_runs', schema=None) as batch_op:
        batch_op.create_index('ix_backtest_runs_user_id_created_at', ['user_id', 'created_at'], unique=False)
        batch_op.create_index('ix_backtest_runs_status', ['status'], unique=False)


def downgrade():
    with op.batch_alter_table('backtest_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_backtest_runs_status')
        batch_op.drop_index('ix_backtest_runs_user_id_created_at')

    op.drop_table('backtest_runs')
