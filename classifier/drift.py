"""Health of the routing per week: OPD mix against training, share needing review, override rates.

A week is flagged when its predicted OPD distribution is further from the training distribution
than LAKSA_DRIFT_MAX (total variation distance, 0..1), when more than LAKSA_REVIEW_SHARE_MAX of
its predictions needed review, or when an OPD with at least LAKSA_OVERRIDE_MIN_COUNT predictions
had more than LAKSA_OVERRIDE_RATE_MAX of them sent to another OPD by the operators' latest decision.
"""
from __future__ import annotations

import logging
from datetime import timedelta

import pandas as pd
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import aliased

from .config import load_config
from .db import OverrideRecord, PredictionRecord, sent_elsewhere, utcnow, with_latest_decision
from .review import WIB

logger = logging.getLogger(__name__)
LIMITS = ("LAKSA_DRIFT_MAX", "LAKSA_REVIEW_SHARE_MAX", "LAKSA_OVERRIDE_RATE_MAX", "LAKSA_OVERRIDE_MIN_COUNT")


def limits(config: dict) -> dict:
    """The flagging limits of a configuration (`load_config()`, or a service's `app.config`)."""
    return {name: config[name] for name in LIMITS}


def served_weeks(app, weeks: int = 8) -> list[dict]:
    """`weekly` for a service: its database and limits, against the OPD mix the served model was trained on."""
    training_counts = app.extensions["laksa_models"].current().card.get("data", {}).get("counts", {}).get("opd", {})
    return weekly(app.extensions["laksa_sessions"], training_counts, weeks, limits(app.config))


def total_variation(observed: dict[str, int], expected: dict[str, int]) -> float:
    """Half the L1 distance between two count distributions, each normalised to sum to one."""
    n_observed, n_expected = sum(observed.values()), sum(expected.values())
    if not n_observed or not n_expected:
        return 0.0
    labels = set(observed) | set(expected)
    return 0.5 * sum(abs(observed.get(k, 0) / n_observed - expected.get(k, 0) / n_expected) for k in labels)


def weekly(sessions, training_counts: dict[str, int], weeks: int = 8, bounds: dict | None = None) -> list[dict]:
    """One entry per ISO week of Kota Tangerang's time (WIB), newest first, with its figures and the flags
    it raises against `bounds` (default: `limits(load_config())`)."""
    since = utcnow() - timedelta(weeks=weeks)
    decision = aliased(OverrideRecord)
    query = with_latest_decision(select(PredictionRecord.created_at, PredictionRecord.opd,
                                        PredictionRecord.needs_review, sent_elsewhere(decision))
                                 .select_from(PredictionRecord), decision).where(PredictionRecord.created_at >= since)
    with sessions() as session:
        frame = pd.DataFrame(session.execute(query).all(), columns=["created_at", "opd", "needs_review", "overridden"])
    if frame.empty:
        return []
    frame["week"] = pd.to_datetime(frame["created_at"], utc=True).dt.tz_convert(WIB).dt.strftime("%G-W%V")
    bounds = bounds or limits(load_config())
    result = []
    for week, rows in sorted(frame.groupby("week"), reverse=True):
        counts = rows["opd"].value_counts().to_dict()
        per_opd = rows.groupby("opd")["overridden"].agg(["sum", "count"])
        override_rate = {opd: float(r["sum"] / r["count"]) for opd, r in per_opd.iterrows()}
        entry = {"week": week, "predictions": len(rows), "opd_counts": counts,
                 "opd_drift": round(total_variation(counts, training_counts), 4),
                 "review_share": round(float(rows["needs_review"].mean()), 4),
                 "override_rate": {k: round(v, 4) for k, v in override_rate.items()}, "flags": []}
        if entry["opd_drift"] > bounds["LAKSA_DRIFT_MAX"]:
            entry["flags"].append(f"OPD mix drifted from training ({entry['opd_drift']:.2f})")
        if entry["review_share"] > bounds["LAKSA_REVIEW_SHARE_MAX"]:
            entry["flags"].append(f"{entry['review_share']:.0%} needed review")
        for opd, rate in override_rate.items():
            if per_opd.loc[opd, "count"] >= bounds["LAKSA_OVERRIDE_MIN_COUNT"] and rate > bounds["LAKSA_OVERRIDE_RATE_MAX"]:
                entry["flags"].append(f"{opd}: {rate:.0%} of routes overridden")
        result.append(entry)
    return result


class DriftCollector:
    """Prometheus view of the current week, computed from the database when /metrics is scraped."""

    def __init__(self, app):
        self.app = app

    def collect(self):
        try:
            weeks = served_weeks(self.app, weeks=1)
        except SQLAlchemyError as error:  # the other metrics still matter most while the database is down
            logger.warning("routing health left out of /metrics: %s", error)
            return
        current = weeks[0] if weeks else None
        drift = GaugeMetricFamily("laksa_week_opd_drift", "Total variation distance of this week's OPD mix "
                                  "from the training data")
        review = GaugeMetricFamily("laksa_week_review_share", "Share of this week's predictions needing review")
        overrides = GaugeMetricFamily("laksa_week_override_rate", "Share of this week's routes overridden, by OPD",
                                      labels=["opd"])
        flagged = GaugeMetricFamily("laksa_week_flags", "Number of routing-health flags raised this week")
        drift.add_metric([], current["opd_drift"] if current else 0.0)
        review.add_metric([], current["review_share"] if current else 0.0)
        for opd, rate in (current["override_rate"] if current else {}).items():
            overrides.add_metric([opd], rate)
        flagged.add_metric([], len(current["flags"]) if current else 0)
        yield from (drift, review, overrides, flagged)
