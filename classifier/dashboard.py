"""The operators' dashboard: aggregates over stored predictions and decisions, drawn as SVG by matplotlib.

Charts are made on the server because the control room's browsers may have no internet (no CDN).
"""
from __future__ import annotations

import io
from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, aliased

from .db import OverrideRecord, PredictionRecord, sent_elsewhere, with_latest_decision
from .registry import Registry
from .review import WIB, as_utc, within

CHARTS = ("volume", "opd", "category", "override_rate")


def summary(session: Session, start: datetime, end: datetime) -> dict:
    """Figures of predictions received in [start, end): per WIB day, per OPD and category, reviews, overrides."""
    decision = aliased(OverrideRecord)  # each prediction's latest decision: its effective label

    def with_decisions(query):
        return within(with_latest_decision(query.select_from(PredictionRecord), decision),
                      PredictionRecord.created_at, start, end)

    reviewed = case((decision.id.is_not(None), 1), else_=0)
    corrected = case((sent_elsewhere(decision), 1), else_=0)  # as /drift counts overrides
    per_route = with_decisions(select(PredictionRecord.opd, func.count(),
                                      func.sum(case((PredictionRecord.needs_review, 1), else_=0)),
                                      func.sum(reviewed), func.sum(corrected))).group_by(PredictionRecord.opd)
    routes = {opd: {"predicted": n, "needs_review": int(review or 0), "reviewed": int(seen or 0),
                    "corrected": int(fixed or 0)} for opd, n, review, seen, fixed in session.execute(per_route)}

    opd, category = func.coalesce(decision.opd, PredictionRecord.opd), func.coalesce(decision.category,
                                                                                      PredictionRecord.category)
    effective = with_decisions(select(opd, category, func.count()))
    by_opd, by_category = Counter(), Counter()
    for opd_code, category_code, n in session.execute(effective.group_by(opd, category)):
        by_opd[opd_code] += n
        by_category[category_code] += n

    days = {start.astimezone(WIB).date() + timedelta(days=i): [0, 0]
            for i in range((end.astimezone(WIB).date() - start.astimezone(WIB).date()).days)}
    moments = within(select(PredictionRecord.created_at, PredictionRecord.needs_review), PredictionRecord.created_at,
                     start, end)
    for moment, needs_review in session.execute(moments):
        day = days.setdefault(as_utc(moment).astimezone(WIB).date(), [0, 0])
        day[0 if needs_review else 1] += 1

    total = sum(r["predicted"] for r in routes.values())
    return {"total": total, "needs_review": sum(r["needs_review"] for r in routes.values()),
            "reviewed": sum(r["reviewed"] for r in routes.values()),
            "corrected": sum(r["corrected"] for r in routes.values()),
            "routes": routes, "by_opd": by_opd, "by_category": by_category, "days": dict(sorted(days.items()))}


def chart_svg(name: str, figures: dict, registry: Registry) -> bytes:
    from matplotlib.dates import DateFormatter
    from matplotlib.figure import Figure  # no pyplot: no global state, safe in threaded workers

    figure = Figure(figsize=(8, 4.2), layout="constrained")
    axes = figure.add_subplot()
    axes.spines[["top", "right"]].set_visible(False)
    if name == "volume":
        days = list(figures["days"])
        review = [figures["days"][d][0] for d in days]
        automatic = [figures["days"][d][1] for d in days]
        axes.bar(days, automatic, color="#2b6cb0", label="Rute otomatis")
        axes.bar(days, review, bottom=automatic, color="#dd6b20", label="Perlu tinjauan")
        axes.set_ylabel("Keluhan per hari")
        axes.legend(frameon=False)
        axes.xaxis.set_major_formatter(DateFormatter("%d/%m"))
        figure.autofmt_xdate()
    elif name in ("opd", "category"):
        counts = figures["by_opd" if name == "opd" else "by_category"].most_common(15)[::-1]
        names = [registry.opd_name(c) if name == "opd" else registry.category_name(c) for c, _ in counts]
        axes.barh([_short(n) for n in names], [n for _, n in counts], color="#2b6cb0")
        axes.set_xlabel("Keluhan (label yang berlaku)")
    elif name == "override_rate":
        rows = sorted(((c, r) for c, r in figures["routes"].items() if r["reviewed"]),
                      key=lambda item: item[1]["corrected"] / item[1]["reviewed"])
        axes.barh([f"{c} (n={r['reviewed']})" for c, r in rows],
                  [100 * r["corrected"] / r["reviewed"] for _, r in rows], color="#c53030")
        axes.set_xlabel("% keluhan yang ditinjau lalu dikoreksi, per OPD rute model")
        axes.set_xlim(0, 100)
    else:
        raise KeyError(name)
    if name != "volume":
        axes.set_ylim(-0.6, max(len(axes.patches), 8) - 0.4)  # bars keep one thickness however few they are
    if not axes.has_data():
        axes.text(0.5, 0.5, "Belum ada data pada rentang ini", ha="center", va="center", transform=axes.transAxes)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


def _short(label: str, limit: int = 38) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"
