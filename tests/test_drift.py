"""Routing health per week, on the JSON endpoint and in /metrics, with flags past the limits."""
from datetime import timedelta

from classifier.dashboard import summary
from classifier.db import OverrideRecord, PredictionRecord, new_id, utcnow
from classifier.drift import total_variation, weekly
from classifier.review import WIB


def add_predictions(app, opd, n, needs_review=False, overridden=0, days_ago=0, created=None):
    created = created or utcnow() - timedelta(days=days_ago)
    with app.extensions["laksa_sessions"].begin() as session:
        for i in range(n):
            record = PredictionRecord(id=new_id(), created_at=created, api_key="test", text="x", category="c",
                                      category_confidence=0.5, opd=opd, opd_confidence=0.5, opd_margin=0.1,
                                      alternatives={}, reasons=[], needs_review=needs_review, model_version="v")
            session.add(record)
            if i < overridden:
                session.flush()
                session.add(OverrideRecord(prediction_id=record.id, created_at=created, operator="op",
                                           action="override", category="c", opd="DLH", previous_category="c",
                                           previous_opd=opd, reason="salah"))


def test_total_variation():
    assert total_variation({"A": 5, "B": 5}, {"A": 1, "B": 1}) == 0.0
    assert total_variation({"A": 10}, {"B": 3}) == 1.0


def test_weekly_flags_drift_review_share_and_override_rate(app, client):
    training = app.extensions["laksa_models"].current().card["data"]["counts"]["opd"]
    add_predictions(app, "DAMKAR", 30, needs_review=True, overridden=20)  # this week: all DAMKAR, mostly wrong
    add_predictions(app, "DPUPR", 5, days_ago=14)
    weeks = weekly(app.extensions["laksa_sessions"], training)
    assert len(weeks) == 2 and weeks[0]["predictions"] == 30
    flags = " | ".join(weeks[0]["flags"])
    assert "drifted" in flags and "needed review" in flags and "DAMKAR: 67% of routes overridden" in flags
    assert weeks[0]["override_rate"]["DAMKAR"] == round(20 / 30, 4)
    assert client.get("/drift").json["weeks"][0]["flags"] == weeks[0]["flags"]
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'laksa_week_override_rate{opd="DAMKAR"} 0.6667' in metrics
    assert "laksa_week_flags 3.0" in metrics and "laksa_week_review_share 1.0" in metrics


def test_only_routes_the_operators_last_sent_elsewhere_count_as_overridden(app):
    add_predictions(app, "DAMKAR", 4)
    with app.extensions["laksa_sessions"].begin() as session:
        first, second, third, _ = session.query(PredictionRecord).order_by(PredictionRecord.id)
        for prediction, decisions in ((first, [("c", "DLH")]),  # sent elsewhere: counts
                                      (second, [("c", "DLH"), ("c", "DAMKAR")]),  # undone: does not
                                      (third, [("other", "DAMKAR")])):  # the category only: does not
            for category, opd in decisions:
                session.add(OverrideRecord(prediction_id=prediction.id, created_at=utcnow(), operator="op",
                                           action="override", category=category, opd=opd, previous_category="c",
                                           previous_opd="DAMKAR", reason="x"))
                session.flush()
    assert weekly(app.extensions["laksa_sessions"], {"DAMKAR": 1})[0]["override_rate"] == {"DAMKAR": 0.25}
    with app.extensions["laksa_sessions"]() as session:  # the operators' dashboard counts them alike
        routes = summary(session, utcnow() - timedelta(days=1), utcnow() + timedelta(days=1))["routes"]
    assert routes["DAMKAR"] == {"predicted": 4, "needs_review": 0, "reviewed": 3, "corrected": 1}


def test_a_week_is_a_tangerang_week_and_the_limits_are_the_services(app, client):
    now = utcnow().astimezone(WIB)
    monday_2am = (now - timedelta(days=now.weekday() + 7)).replace(hour=2, minute=0, second=0, microsecond=0)
    add_predictions(app, "DAMKAR", 30, created=monday_2am)  # still Sunday, the week before, in UTC
    app.config["LAKSA_DRIFT_MAX"] = 1.0  # as create_app({...}) would set it
    answer = client.get("/drift").json
    assert [week["week"] for week in answer["weeks"]] == [monday_2am.strftime("%G-W%V")]
    assert answer["limits"]["LAKSA_DRIFT_MAX"] == 1.0 and not any("drifted" in f for f in answer["weeks"][0]["flags"])
