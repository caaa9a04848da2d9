"""Operators' corrections as training data: the effective label of every reviewed prediction.

The effective label of a prediction is the one its latest confirm/override record carries. Rows
come out in the labelled-data schema, dated by that latest action, so that when the same text
also appears in older labelled data, de-duplication keeps the operator's label. Codes the registry
no longer has are named in a warning; a retired category leaves the row's OPD to train on.
"""
from __future__ import annotations

import csv
import sys

import pandas as pd
from sqlalchemy import select

from . import spreadsheet
from .dataset import CORRECTION_SOURCE, UNLABELLED
from .db import OverrideRecord, PredictionRecord, latest_decisions, make_engine, make_sessionmaker
from .registry import Registry


def load_corrections(database_url: str, registry: Registry | None = None, keep_opd_only: bool = True) -> pd.DataFrame:
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
    frame["source"] = CORRECTION_SOURCE + frame["id"]
    return frame if registry is None else _registered(frame, registry, keep_opd_only)


def _registered(frame: pd.DataFrame, registry: Registry, keep_opd_only: bool) -> pd.DataFrame:
    """The corrections whose codes the registry still has, after a warning naming the others. With
    `keep_opd_only`, a row whose category was retired keeps its (verified) OPD as an OPD-only row."""
    known_opd = frame["opd"].isin(list(registry.opds))
    retired_category = ~frame["category"].isin(list(registry.categories))
    for column, names, unknown, fate in (("opd", "OPDs", ~known_opd, "left out"),
                                         ("category", "categories", known_opd & retired_category,
                                          "kept for their OPD" if keep_opd_only else "left out")):
        if unknown.any():
            counts = frame.loc[unknown, column].value_counts()
            print(f"warning: corrections name {names} not in the registry ({registry.directory}): "
                  f"{', '.join(f'{code!r} ({n})' for code, n in counts.items())}; {fate}", file=sys.stderr)
    if keep_opd_only:
        frame = frame.assign(category=frame["category"].where(~retired_category, UNLABELLED))
        return frame[known_opd].reset_index(drop=True)
    return frame[known_opd & ~retired_category].reset_index(drop=True)


def export_corrections(database_url: str, out, registry: Registry | None = None) -> int:
    """Write the corrections as a labelled CSV; with a registry, only rows whose codes it still has
    (so that the file trains as it is)."""
    frame = load_corrections(database_url, registry, keep_opd_only=False)
    frame["created_at"] = frame["created_at"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    frame["text"] = frame["text"].map(spreadsheet.guard)  # the data team opens it in a spreadsheet too
    # Every text quoted: a citizen's text may hold a bare carriage return, which unquoted breaks the row.
    frame[["id", "text", "category", "opd", "created_at"]].to_csv(out, index=False, quoting=csv.QUOTE_NONNUMERIC)
    return len(frame)
