"""drop ix_predictions_needs_review: ix_predictions_review (needs_review, opd_confidence) serves the same queries

Every index is one more page written by each stored prediction (the service's hot path).

Revision ID: 0002
Revises: 0001
"""
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('predictions', schema=None) as batch_op:
        batch_op.drop_index('ix_predictions_needs_review')


def downgrade():
    with op.batch_alter_table('predictions', schema=None) as batch_op:
        batch_op.create_index('ix_predictions_needs_review', ['needs_review'], unique=False)
