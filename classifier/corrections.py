"""Operators' corrections as training data: the effective label of every reviewed prediction.

The effective label of a prediction is the one its latest confirm/override record carries. Rows
come out in the labelled-data schema, dated by that latest action, so that when the same text
also appears in older labelled data, de-duplication keeps the operator's label.
"""
from __future__ import annotations

import csv
import sys

import pandas as pd
from sqlalchemy import select

from .db import OverrideRecord, PredictionRecord, latest_decisions, make_engine, make_sessionmaker
from .registry import Registry


def load_corrections(database_url: str, registry: Registry | None = None) -> pd.DataFrame:
    latest = latest_decisions()
    query = (select(PredictionRecord.id, PredictionRecord.text, OverrideRecord.category, OverrideRecord.opd,
                    OverrideRecord.created_at)
             .join(latest, latest.c.prediction_id == PredictionRecord.id)
             .join(OverrideRecord, OverrideRecord.id == latest.c.id)
             .order_by(OverrideRecord.id))
    engine = make_engine(database_url)
    try:
        with make_sessionmaker(engine)() as session:
            rows = session.execute(query).all()
    finally:
        engine.dispose()
    frame = pd.DataFrame(rows, columns=["id", "text", "category", "opd", "created_at"])
    frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True)
    frame["source"] = "corrections:" + frame["id"]
    if registry is not None:
        known = frame["opd"].isin(list(registry.opds)) & frame["category"].isin(list(registry.categories))
        if not known.all():
            print(f"warning: {int((~known).sum())} correction(s) name an OPD or category no longer in the "
                  "registry and are left out", file=sys.stderr)
        frame = frame[known]
    return frame.reset_index(drop=True)


def export_corrections(database_url: str, out) -> int:
    frame = load_corrections(database_url)
    frame["created_at"] = frame["created_at"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    # Every text quoted: a citizen's text may hold a bare carriage return, which unquoted breaks the row.
    frame[["id", "text", "category", "opd", "created_at"]].to_csv(out, index=False, quoting=csv.QUOTE_NONNUMERIC)
    return len(frame)
