"""operators.session_epoch: a sign-in is valid only while its cookie names the operator's current epoch,
so that signing out ends every copy of the cookie (a signed cookie cannot be taken back otherwise).

Cookies issued before this revision name no epoch: those operators sign in once more.

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('operators', sa.Column('session_epoch', sa.Integer(), nullable=False, server_default='0'))


def downgrade():
    with op.batch_alter_table('operators') as batch_op:  # SQLite drops a column by copying the table
        batch_op.drop_column('session_epoch')
