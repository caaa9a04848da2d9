"""account_events: each change to an operator account (created, switched off or on, new password) and
who made it. Accounts that exist before this revision have no "created" event.

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'account_events',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('username', sa.String(length=100), nullable=False),
        sa.Column('action', sa.String(length=20), nullable=False),
        sa.Column('by', sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_account_events_username', 'account_events', ['username'])


def downgrade():
    op.drop_index('ix_account_events_username', table_name='account_events')
    op.drop_table('account_events')
