"""operators.disabled_at: an account that is switched off (someone left the control room) signs nobody in,
while its decisions keep naming it. NULL is an active account.

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('operators', sa.Column('disabled_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('operators') as batch_op:  # SQLite drops a column by copying the table
        batch_op.drop_column('disabled_at')
