"""predictions.retry_key: the API key and the external id, unique, so that an intake system's retry
is recognised by the database itself; it replaces the index on external_id alone, which no query
uses (every index is one more page written by each stored prediction).

Predictions stored before this revision have no retry key: they keep any duplicates they have.

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('predictions', sa.Column('retry_key', sa.String(length=320), nullable=True))
    op.create_index('ix_predictions_retry_key', 'predictions', ['retry_key'], unique=True)
    op.drop_index('ix_predictions_external_id', table_name='predictions')


def downgrade():
    op.create_index('ix_predictions_external_id', 'predictions', ['external_id'], unique=False)
    op.drop_index('ix_predictions_retry_key', table_name='predictions')
    with op.batch_alter_table('predictions') as batch_op:  # SQLite drops a column by copying the table
        batch_op.drop_column('retry_key')
