"""The operators' JSON API and its rules, against SQLite and PostgreSQL (via the `app` fixture)."""
import base64
import csv
import io
import re
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from classifier.accounts import authenticate, create_operator
from classifier.db import AccountEvent, OverrideRecord, PredictionRecord, ReviewClaim, new_id, utcnow
from conftest import API_KEY

PASSWORD = "kata-sandi-uji-1"


def add_operator(app, username: str, role: str = "operator") -> dict:
    """An account, and the basic-auth header that signs in as it."""
    create_operator(app.extensions["laksa_sessions"], username, PASSWORD, role, by="test")
    token = base64.b64encode(f"{username}:{PASSWORD}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def add_prediction(app, text="Lampu jalan mati", opd="DISHUB", category=None, opd_confidence=0.5, opd_margin=0.1,
                   needs_review=True, created_at=None, reasons=None) -> str:
    """A stored prediction with chosen figures, as the intake would have stored it."""
    registry = app.extensions["laksa_registry"]
    category = category or next(c for c in registry.categories.values() if c.usual_opd == opd).code
    record = PredictionRecord(
        id=new_id(), created_at=created_at or utcnow(), api_key="test", text=text, category=category,
        category_confidence=opd_confidence, opd=opd, opd_confidence=opd_confidence, opd_margin=opd_margin,
        alternatives={"category": [], "opd": [{"label": "DLH", "name": "Dinas Lingkungan Hidup", "confidence": 0.1}]},
        reasons=reasons if reasons is not None else ["lampu", "mati"], needs_review=needs_review, model_version="t")
    with app.extensions["laksa_sessions"].begin() as session:
        session.add(record)
    return record.id


def count_decisions(app) -> int:
    with app.extensions["laksa_sessions"]() as session:
        return session.scalar(select(func.count()).select_from(OverrideRecord))


def test_an_intake_key_cannot_decide_or_read_the_queue(app, client):
    routed = client.post("/predict", json={"text": "lampu pju mati di jl imam bonjol"}, headers={"X-API-Key": API_KEY})
    prediction_id = routed.json["prediction_id"]
    calls = [("post", f"/predictions/{prediction_id}/override", {"opd": "DLH", "reason": "x"}),
             ("post", f"/predictions/{prediction_id}/confirm", {}), ("get", "/review", None),
             ("post", f"/review/{prediction_id}/claim", None)]
    for method, path, body in calls:
        answer = getattr(client, method)(path, json=body, headers={"X-API-Key": API_KEY})
        assert answer.status_code == 401, path
        assert answer.json["error"] == "operator_login_required"
    assert count_decisions(app) == 0


def test_an_override_is_appended_and_the_latest_decision_is_the_effective_label(app, client):
    auth = add_operator(app, "budi")
    prediction_id = client.post("/predict", json={"text": "sampah menumpuk di pinggir jalan"},
                                headers={"X-API-Key": API_KEY}).json["prediction_id"]
    first = client.post(f"/predictions/{prediction_id}/override", json={"opd": "DPUPR", "reason": "saluran tertutup"},
                        headers=auth)
    assert first.status_code == 201
    assert (first.json["operator"], first.json["action"], first.json["opd"]) == ("budi", "override", "DPUPR")
    assert first.json["previous_opd"] == "DLH"  # the model's route
    category = next(c for c in app.extensions["laksa_registry"].categories.values() if c.usual_opd == "DINSOS").code
    second = client.post(f"/predictions/{prediction_id}/override",
                         json={"category": category, "opd": "DINSOS", "reason": "ternyata bansos", "operator": "budi"},
                         headers=auth)
    assert second.status_code == 201
    assert (second.json["previous_opd"], second.json["opd"], second.json["category"]) == ("DPUPR", "DINSOS", category)
    detail = client.get(f"/predictions/{prediction_id}", headers=auth).json
    assert detail["effective"] == {"category": category, "opd": "DINSOS"}
    assert [d["reason"] for d in detail["decisions"]] == ["saluran tertutup", "ternyata bansos"]
    confirmed = client.post(f"/predictions/{prediction_id}/confirm", json={"reason": "sudah dicek"}, headers=auth)
    assert confirmed.status_code == 201 and confirmed.json["opd"] == "DINSOS"  # a confirm keeps the effective label
    assert count_decisions(app) == 3


def test_a_decision_on_a_label_that_changed_since_it_was_shown_is_a_409(app, client):
    # Ani and Budi opened the same complaint (DISHUB); Budi moved it to DLH first.
    ani, budi = add_operator(app, "ani"), add_operator(app, "budi")
    prediction_id = add_prediction(app, opd="DISHUB")
    shown = client.get(f"/predictions/{prediction_id}", headers=ani).json["effective"]
    assert client.post(f"/predictions/{prediction_id}/override", json={"opd": "DLH", "reason": "sampah"},
                       headers=budi).status_code == 201
    seen = {"seen_category": shown["category"], "seen_opd": shown["opd"]}
    for action, body in (("confirm", {}), ("override", {"opd": "DPUPR", "reason": "jalan"})):
        answer = client.post(f"/predictions/{prediction_id}/{action}", json={**body, **seen}, headers=ani)
        assert answer.status_code == 409 and answer.json["error"] == "label_changed"
        assert answer.json["fields"] == [{"field": "seen_opd", "problem": "not the current label"}]
    assert count_decisions(app) == 1
    now = client.post(f"/predictions/{prediction_id}/confirm", json={"seen_opd": "DLH", "reason": "cek 0812 3456 7890"},
                      headers=ani)
    assert now.status_code == 201 and now.json["opd"] == "DLH"
    assert "0812" not in now.json["reason"] and "xtelpx" in now.json["reason"]  # reasons are masked like texts


def test_the_same_decision_sent_again_is_recorded_once(app, client):
    # A retry (a script's, or a browser's back button) must not add noise to the audit trail.
    budi, ani = add_operator(app, "budi"), add_operator(app, "ani")
    prediction_id = add_prediction(app, opd="DISHUB")
    shown = client.get(f"/predictions/{prediction_id}", headers=budi).json["effective"]
    body = {"opd": "DLH", "reason": "sampah di got, 0812 3456 7890", "seen_opd": shown["opd"]}
    first = client.post(f"/predictions/{prediction_id}/override", json=body, headers=budi)
    assert first.status_code == 201
    again = client.post(f"/predictions/{prediction_id}/override", json={**body, "reason": body["reason"] + " \n"},
                        headers=budi)  # its seen_opd is no longer the label: a repeat all the same
    assert again.status_code == 200 and again.json == first.json
    assert client.post(f"/review/{prediction_id}/claim", headers=ani).status_code == 200
    assert client.post(f"/predictions/{prediction_id}/override", json=body, headers=budi).status_code == 200
    assert client.post(f"/predictions/{prediction_id}/confirm", json={}, headers=budi).json["error"] == \
        "already_claimed"
    with app.extensions["laksa_sessions"].begin() as session:
        session.execute(update(ReviewClaim).values(expires_at=utcnow() - timedelta(seconds=1)))
    other_reason = client.post(f"/predictions/{prediction_id}/override", json={**body, "reason": "lain"},
                               headers=budi)
    assert other_reason.status_code == 409 and other_reason.json["error"] == "label_changed"  # a new decision
    statuses = [client.post(f"/predictions/{prediction_id}/confirm", json={"reason": reason}, headers=auth).status_code
                for auth, reason in ((budi, "cek"), (budi, " cek"), (budi, "cek lagi"), (ani, "cek lagi"),
                                     (budi, "cek lagi"))]
    assert statuses == [201, 200, 201, 201, 201]  # the same; another reason; another operator; after another's
    assert count_decisions(app) == 5
    responses = client.get("/openapi.json").json["paths"]["/predictions/{prediction_id}/confirm"]["post"]["responses"]
    assert {"200", "201"} <= responses.keys()


@pytest.mark.parametrize("body, field", [
    ({"reason": "tidak ada nilai baru"}, "category"),
    ({"opd": "DINAS_KHAYALAN", "reason": "x"}, "opd"),
    ({"category": "kategori_khayalan", "reason": "x"}, "category"),
    ({"opd": "DLH", "reason": ""}, "reason"),
    ({"opd": "DLH"}, "reason"),
    ({"opd": "DLH", "reason": "x", "operator": "ani"}, "operator"),
    ({"opd": "DISHUB", "reason": "sama saja"}, "opd"),
    ({"opd": "DLH", "reason": "x", "extra": 1}, "extra"),
])
def test_a_bad_override_is_a_422_naming_the_field_and_stores_nothing(app, client, body, field):
    auth = add_operator(app, "budi")
    prediction_id = add_prediction(app, opd="DISHUB")
    answer = client.post(f"/predictions/{prediction_id}/override", json=body, headers=auth)
    assert answer.status_code == 422
    assert field in [f["field"] for f in answer.json["fields"]]
    assert count_decisions(app) == 0


@pytest.mark.parametrize("path, field", [
    ("/review?opd=D%00", "opd"), ("/predictions/ab%00cd", "path"),  # NUL: once a 500 on PostgreSQL
    ("/review?to=9999-12-31", "to"), ("/review?from=0001-01-01", "from"),  # past the calendar: once a 500
])
def test_unstorable_values_and_dates_past_the_calendar_are_a_422(app, client, path, field):
    answer = client.get(path, headers=add_operator(app, "budi"))
    assert answer.status_code == 422 and answer.json["fields"][0]["field"] == field


def test_a_day_given_as_to_includes_that_whole_wib_day_however_written():
    from classifier.review import parse_moment

    whole_day = parse_moment("2026-11-22", "to", end=True)
    assert whole_day.isoformat() == "2026-11-22T17:00:00+00:00"
    assert parse_moment("20261122", "to", end=True) == whole_day  # once the day's start: the day left out
    assert parse_moment("2026-11-22T00:00", "to", end=True).isoformat() == "2026-11-21T17:00:00+00:00"


def test_deciding_on_an_unknown_prediction_is_a_404(app, client):
    auth = add_operator(app, "budi")
    for action, body in (("override", {"opd": "DLH", "reason": "x"}), ("confirm", {})):
        answer = client.post(f"/predictions/{new_id()}/{action}", json=body, headers=auth)
        assert answer.status_code == 404 and answer.json["error"] == "prediction_not_found"
    assert client.post(f"/review/{new_id()}/claim", headers=auth).status_code == 404
    assert count_decisions(app) == 0


def test_the_queue_puts_the_least_certain_first_and_filters_and_pages(app, client):
    auth = add_operator(app, "budi")
    now = utcnow()
    ids = {name: add_prediction(app, opd=opd, opd_confidence=conf, opd_margin=margin,
                                created_at=now - timedelta(days=age))
           for name, opd, conf, margin, age in [("c", "DISHUB", 0.6, 0.3, 0), ("a", "DLH", 0.4, 0.2, 1),
                                                 ("b2", "DISHUB", 0.5, 0.2, 2), ("b1", "DLH", 0.5, 0.1, 3)]}
    add_prediction(app, opd_confidence=0.99, needs_review=False)  # routed automatically: not in the queue
    decided = add_prediction(app, opd_confidence=0.1)
    client.post(f"/predictions/{decided}/confirm", json={}, headers=auth)  # decided: leaves the queue

    queue = client.get("/review", headers=auth).json
    assert [item["prediction_id"] for item in queue["items"]] == [ids["a"], ids["b1"], ids["b2"], ids["c"]]
    assert queue["total"] == 4
    dishub = client.get("/review?opd=DISHUB", headers=auth).json
    assert [item["prediction_id"] for item in dishub["items"]] == [ids["b2"], ids["c"]]
    recent = client.get("/review", query_string={"from": (now - timedelta(days=1, hours=1)).isoformat()},
                        headers=auth).json
    assert {item["prediction_id"] for item in recent["items"]} == {ids["a"], ids["c"]}
    second_page = client.get("/review?per_page=3&page=2", headers=auth).json
    assert [item["prediction_id"] for item in second_page["items"]] == [ids["c"]] and second_page["total"] == 4
    bad = client.get("/review?from=kemarin", headers=auth)
    assert bad.status_code == 422 and bad.json["fields"][0]["field"] == "from"
    assert client.get("/review?per_page=0", headers=auth).status_code == 422
    repeated = client.get("/review?opd=DLH&opd=DISHUB", headers=auth)  # not silently the first of the two
    assert repeated.status_code == 422
    assert repeated.json["fields"] == [{"field": "opd", "problem": "given more than once"}]
    beyond = client.get(f"/review?page={10 ** 20}", headers=auth)  # once a 500: the offset overflowed SQLite
    assert beyond.status_code == 422 and beyond.json["fields"][0]["field"] == "page"


def test_a_claim_keeps_others_off_until_it_expires(app, client):
    budi, ani = add_operator(app, "budi"), add_operator(app, "ani")
    prediction_id = add_prediction(app)
    taken = client.post(f"/review/{prediction_id}/claim", headers=budi)
    assert taken.status_code == 200 and taken.json["operator"] == "budi"
    refused = client.post(f"/review/{prediction_id}/claim", headers=ani)
    assert refused.status_code == 409 and "budi" in refused.json["message"]
    assert client.post(f"/review/{prediction_id}/claim", headers=budi).status_code == 200  # renewing one's own
    assert client.get("/review", headers=ani).json["items"][0]["claim"]["operator"] == "budi"
    with app.extensions["laksa_sessions"].begin() as session:  # time passes beyond LAKSA_CLAIM_SECONDS
        session.execute(update(ReviewClaim).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert client.get("/review", headers=ani).json["items"][0]["claim"] is None
    assert client.post(f"/review/{prediction_id}/claim", headers=ani).json["operator"] == "ani"


def test_a_claim_keeps_others_from_deciding_until_it_expires(app, client):
    budi, ani = add_operator(app, "budi"), add_operator(app, "ani")
    prediction_id = add_prediction(app)
    client.post(f"/review/{prediction_id}/claim", headers=budi)
    refused = client.post(f"/predictions/{prediction_id}/override", json={"opd": "DLH", "reason": "sampah"},
                          headers=ani)
    assert refused.status_code == 409 and refused.json["error"] == "already_claimed"
    assert client.get(f"/predictions/{prediction_id}", headers=ani).json["decisions"] == []
    assert client.post(f"/predictions/{prediction_id}/confirm", json={}, headers=budi).status_code == 201
    with app.extensions["laksa_sessions"].begin() as session:  # time passes beyond LAKSA_CLAIM_SECONDS
        session.execute(update(ReviewClaim).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert client.post(f"/predictions/{prediction_id}/override", json={"opd": "DLH", "reason": "sampah"},
                       headers=ani).status_code == 201


def test_two_operators_claiming_at_once_get_one_claim_and_one_409(app):
    auths = [add_operator(app, "budi"), add_operator(app, "ani")]
    prediction_id = add_prediction(app)
    statuses = run_together(app, [lambda c, a=a: c.post(f"/review/{prediction_id}/claim", headers=a).status_code
                                  for a in auths])
    assert sorted(statuses) == [200, 409]


def test_one_operator_claiming_twice_at_once_keeps_the_claim(app):
    from classifier.review import claim

    sessions = app.extensions["laksa_sessions"]  # a double click on "Tangani", in rounds to meet the race
    for prediction_id in [add_prediction(app) for _ in range(10)]:
        claims = run_together(app, [lambda _: claim(sessions, prediction_id, "budi", 600).operator] * 6)
        assert claims == ["budi"] * 6


def run_together(app, calls):
    """Run each call with its own test client in its own thread, all released at once."""
    barrier, results = threading.Barrier(len(calls)), [None] * len(calls)

    def run(i):
        client = app.test_client()
        barrier.wait()
        try:
            results[i] = calls[i](client)
        except Exception as error:  # noqa: BLE001 - the caller's assertion shows it
            results[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_concurrent_overrides_of_one_prediction_both_land_in_order(app):
    budi, ani = add_operator(app, "budi"), add_operator(app, "ani")
    prediction_id = add_prediction(app, opd="DISHUB")
    bodies = [(budi, {"opd": "DLH", "reason": "sampah"}), (ani, {"opd": "DPUPR", "reason": "jalan"})]
    statuses = run_together(app, [lambda c, a=a, b=b: c.post(f"/predictions/{prediction_id}/override", json=b,
                                                              headers=a).status_code for a, b in bodies])
    assert statuses == [201, 201]
    with app.extensions["laksa_sessions"]() as session:
        records = list(session.scalars(select(OverrideRecord).order_by(OverrideRecord.id)))
    assert len(records) == 2 and {r.operator for r in records} == {"budi", "ani"}
    # Serialised: the later one records the first one's label as what it replaced.
    assert records[0].previous_opd == "DISHUB" and records[1].previous_opd == records[0].opd


def test_the_export_filters_pages_and_speaks_csv(app, client):
    budi, ani = add_operator(app, "budi"), add_operator(app, "ani")
    first = add_prediction(app, opd="DISHUB", text="=HYPERLINK(\"http://x\") lampu mati;@SUM(A1)")
    second = add_prediction(app, opd="DLH")
    client.post(f"/predictions/{first}/override", json={"opd": "DLH", "reason": "-bukan lampu"}, headers=budi)
    client.post(f"/predictions/{second}/confirm", json={}, headers=ani)
    client.post(f"/predictions/{second}/override", json={"opd": "DINSOS", "reason": "bansos"}, headers=ani)
    with app.extensions["laksa_sessions"].begin() as session:  # the first decision was made last week
        session.execute(update(OverrideRecord).where(OverrideRecord.prediction_id == first)
                        .values(created_at=utcnow() - timedelta(days=7)))

    everything = client.get("/overrides", headers=budi)
    assert everything.json["total"] == 3 and everything.headers["X-Total-Count"] == "3"
    assert [r["action"] for r in everything.json["items"]] == ["override", "confirm", "override"]
    by_ani = client.get("/overrides?operator=ani", headers=budi).json
    assert {r["operator"] for r in by_ani["items"]} == {"ani"} and by_ani["total"] == 2
    dishub = client.get("/overrides?opd=DISHUB", headers=budi).json  # the OPD before or after the decision
    assert [r["prediction_id"] for r in dishub["items"]] == [first]
    since = (utcnow() - timedelta(days=2)).date().isoformat()
    assert client.get(f"/overrides?from={since}", headers=budi).json["total"] == 2
    assert client.get(f"/overrides?to={since}", headers=budi).json["total"] == 1
    paged = client.get("/overrides?per_page=2&page=2", headers=budi).json
    assert len(paged["items"]) == 1 and paged["total"] == 3

    for answer in (client.get("/overrides?format=csv", headers=budi),
                   client.get("/overrides", headers={**budi, "Accept": "text/csv"})):
        assert answer.mimetype == "text/csv"
        rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
        assert [r["opd"] for r in rows] == ["DLH", "DLH", "DINSOS"]
        # What a spreadsheet would execute is neutralised, also after a ";" (where Indonesian settings
        # split a line); the JSON export keeps the texts verbatim.
        assert rows[0]["text"].startswith("'=HYPERLINK") and rows[0]["text"].endswith(";'@SUM(A1)")
        assert rows[0]["reason"] == "'-bukan lampu"
    assert everything.json["items"][0]["text"].startswith("=HYPERLINK")


def test_decisions_survive_a_restart(trained_model_dir, database_url):
    from classifier.serve import create_app

    config = {"LAKSA_MODEL_DIR": str(trained_model_dir), "LAKSA_DATABASE_URL": database_url,
              "LAKSA_SECRET_KEY": "test-secret"}
    first = create_app(config)
    auth = add_operator(first, "budi")
    prediction_id = add_prediction(first)
    assert first.test_client().post(f"/predictions/{prediction_id}/override", json={"opd": "DLH", "reason": "x"},
                                    headers=auth).status_code == 201
    first.extensions["laksa_sessions"].kw["bind"].dispose()
    second = create_app(config)
    try:
        exported = second.test_client().get("/overrides", headers=auth).json
        assert [(r["prediction_id"], r["opd"], r["operator"]) for r in exported["items"]] == [(prediction_id, "DLH",
                                                                                              "budi")]
    finally:
        from conftest import _clear_tables
        _clear_tables(second)


def test_only_admins_create_accounts(app, client):
    operator, admin = add_operator(app, "budi"), add_operator(app, "kepala", role="admin")
    body = {"username": "citra", "password": "sandi-baru-panjang", "role": "operator"}
    refused = client.post("/operators", json=body, headers=operator)
    assert refused.status_code == 403
    assert client.post("/operators", json=body, headers=admin).status_code == 201
    assert authenticate(app.extensions["laksa_sessions"], "citra", "sandi-baru-panjang").role == "operator"
    short = client.post("/operators", json={**body, "username": "dedi", "password": "pendek"}, headers=admin)
    assert short.status_code == 422 and short.json["fields"][0]["field"] == "password"
    duplicate = client.post("/operators", json=body, headers=admin)
    assert duplicate.status_code == 422 and duplicate.json["fields"][0]["field"] == "username"


def test_wrong_basic_auth_is_a_401_and_a_session_post_needs_the_csrf_header(app, client):
    add_operator(app, "budi")
    wrong = base64.b64encode(b"budi:salah").decode()
    assert client.get("/review", headers={"Authorization": f"Basic {wrong}"}).status_code == 401
    client.post("/operator/login", data={"username": "budi", "password": PASSWORD,
                                         "csrf_token": login_token(client)})
    prediction_id = add_prediction(app)
    assert client.get("/review").status_code == 200  # the session alone reads
    no_token = client.post(f"/predictions/{prediction_id}/confirm", json={})
    assert no_token.status_code == 400 and no_token.json["fields"][0]["field"] == "X-CSRFToken"
    with_token = client.post(f"/predictions/{prediction_id}/confirm", json={},
                             headers={"X-CSRFToken": login_token(client, "/operator/")})
    assert with_token.status_code == 201 and with_token.json["operator"] == "budi"


def login_token(client, path="/operator/login") -> str:
    import re

    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def test_manage_creates_operators_from_the_environment(database_url, monkeypatch, capsys):
    from classifier.db import make_engine, make_sessionmaker
    from classifier.manage import main

    monkeypatch.setenv("LAKSA_DATABASE_URL", database_url)
    monkeypatch.setenv("LAKSA_OPERATOR_PASSWORD", "sandi-dari-env-1")
    assert main(["create-operator", "kepala", "--role", "admin"]) == 0
    assert main(["create-operator", "kepala"]) == 2 and "already exists" in capsys.readouterr().err
    monkeypatch.setenv("LAKSA_OPERATOR_PASSWORD", "pendek")
    assert main(["create-operator", "dedi"]) == 2
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    try:
        assert authenticate(sessions, "kepala", "sandi-dari-env-1").role == "admin"
        assert authenticate(sessions, "kepala", "salah") is None and authenticate(sessions, "dedi", "pendek") is None
    finally:
        from classifier.db import Operator
        with sessions.begin() as session:
            session.execute(Operator.__table__.delete())
            session.execute(AccountEvent.__table__.delete())
        engine.dispose()


def test_manage_names_the_problem_without_a_traceback(tmp_path, monkeypatch, capsys):
    from classifier.manage import main

    monkeypatch.setenv("LAKSA_DATABASE_URL", f"sqlite:///{tmp_path / 'var' / 'laksa.db'}")  # a folder not made yet
    assert main(["create-api-key", "wa-bot"]) == 0
    problems = {"exists already": ["create-api-key", "wa-bot"], "needs a name": ["create-api-key", " "],
                "export-corrections: Cannot save file": ["export-corrections", str(tmp_path / "no" / "x.csv")]}
    for message, argv in problems.items():
        assert main(argv) == 2 and message in capsys.readouterr().err
    monkeypatch.setenv("LAKSA_CLAIM_SECONDS", "10m")
    assert main(["db-upgrade"]) == 2
    assert "LAKSA_CLAIM_SECONDS='10m'" in capsys.readouterr().err


def test_admins_disable_enable_and_reset_accounts_and_each_ends_the_sign_ins(app, client):
    operator, admin = add_operator(app, "budi"), add_operator(app, "kepala", role="admin")
    prediction_id = add_prediction(app)
    assert client.post(f"/review/{prediction_id}/claim", headers=operator).status_code == 200
    assert client.patch("/operators/budi", json={"active": False}, headers=operator).status_code == 403
    disabled = client.patch("/operators/budi", json={"active": False}, headers=admin)
    assert disabled.status_code == 200 and disabled.json == {"username": "budi", "role": "operator", "active": False}
    assert client.get("/review", headers=operator).status_code == 401  # basic auth of a disabled account
    sessions = app.extensions["laksa_sessions"]
    assert authenticate(sessions, "budi", PASSWORD) is None
    with sessions() as session:  # the complaints they held go back to the others at once
        assert session.scalar(select(func.count()).select_from(ReviewClaim)) == 0
    listed = client.get("/operators", headers=admin).json["items"]
    assert [(o["username"], o["active"]) for o in listed] == [("budi", False), ("kepala", True)]

    assert client.patch("/operators/budi", json={"active": True, "password": "sandi-baru-kedua-2"},
                        headers=admin).json["active"] is True
    assert authenticate(sessions, "budi", PASSWORD) is None and authenticate(sessions, "budi", "sandi-baru-kedua-2")
    problems = [({"active": False}, "kepala", "active"), ({"password": "pendek"}, "budi", "password"),
                ({"password": "budi-12345678"}, "budi", "password"), ({}, "budi", "body"),
                ({"active": False}, "tidak-ada", "username")]
    for body, username, field in problems:  # the last admin stays; weak passwords; nothing to do; no such name
        refused = client.patch(f"/operators/{username}", json=body, headers=admin)
        assert refused.status_code in (404, 422) and refused.json["fields"][0]["field"] == field, (body, username)
    assert authenticate(sessions, "kepala", PASSWORD).role == "admin"
    with sessions() as session:  # each change, and who made it, for the auditors; the refused ones left none
        events = session.execute(select(AccountEvent.username, AccountEvent.action, AccountEvent.by)
                                 .order_by(AccountEvent.id)).all()
    assert [tuple(e) for e in events] == [("budi", "created", "test"), ("kepala", "created", "test"),
                                          ("budi", "disabled", "kepala"), ("budi", "enabled", "kepala"),
                                          ("budi", "password", "kepala")]


def test_manage_disables_enables_lists_and_resets_operators(database_url, monkeypatch, capsys):
    from classifier.db import Operator, make_engine, make_sessionmaker
    from classifier.manage import main

    monkeypatch.setenv("LAKSA_DATABASE_URL", database_url)
    monkeypatch.setenv("LAKSA_OPERATOR_PASSWORD", "sandi-dari-env-1")
    assert main(["create-operator", "budi"]) == 0 and main(["create-operator", "kepala", "--role", "admin"]) == 0
    assert main(["disable-operator", "budi"]) == 0
    assert main(["disable-operator", "kepala"]) == 2 and "last active admin" in capsys.readouterr().err
    assert main(["disable-operator", "siapa"]) == 2 and "siapa" in capsys.readouterr().err
    capsys.readouterr()
    assert main(["list-operators"]) == 0
    listing = capsys.readouterr().out
    assert re.search(r"budi\s+operator\s+disabled", listing) and re.search(r"kepala\s+admin\s+active", listing)
    monkeypatch.setenv("LAKSA_OPERATOR_PASSWORD", "sandi-baru-env-2")
    assert main(["set-password", "kepala"]) == 0 and main(["enable-operator", "budi"]) == 0
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    try:
        assert authenticate(sessions, "kepala", "sandi-baru-env-2") and not authenticate(sessions, "kepala",
                                                                                         "sandi-dari-env-1")
        assert authenticate(sessions, "budi", "sandi-dari-env-1")
        with sessions() as session:
            events = session.execute(select(AccountEvent.action, AccountEvent.by).order_by(AccountEvent.id)).all()
        assert [action for action, _ in events] == ["created", "created", "disabled", "password", "enabled"]
        assert all(by.startswith("manage.py") for _, by in events)  # and the system user who ran it
    finally:
        with sessions.begin() as session:
            session.execute(Operator.__table__.delete())
            session.execute(AccountEvent.__table__.delete())
        engine.dispose()
