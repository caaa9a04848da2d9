"""The intake contract through Flask's test client, against SQLite and PostgreSQL."""
import io
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from classifier.db import PredictionRecord, create_api_key
from conftest import API_KEY

KEY = {"X-API-Key": API_KEY}


def stored(app):
    with app.extensions["laksa_sessions"]() as session:
        return session.scalars(select(PredictionRecord)).all()


def test_predict_answers_the_contract_and_stores_the_prediction(app, client):
    response = client.post("/predict", json={"text": "Ada ular sanca masuk rumah, hub 0812-3456-7890, NIK 3671 "
                                             "0123 4567 0001", "external_id": "laksa-77",
                                             "metadata": {"channel": "app", "pelapor": {"hp": "(021) 5555-1234"}}},
                           headers=KEY)
    assert response.status_code == 200, response.json
    body = response.json
    assert set(body) >= {"prediction_id", "category", "opd", "needs_review", "reasons", "model_version"}
    assert body["opd"]["code"] == "DAMKAR" and body["opd"]["name"].startswith("Dinas Pemadam")
    assert len(body["opd"]["alternatives"]) == 3 and 0 < body["category"]["confidence"] <= 1
    [record] = stored(app)
    assert record.id == body["prediction_id"] and record.external_id == "laksa-77"
    assert "0812" not in record.text and "3671" not in record.text  # stored masked, metadata too
    assert "xtelpx" in record.text and "xnikx" in record.text
    assert record.opd == "DAMKAR" and record.model_version == body["model_version"]
    assert record.request_metadata == {"channel": "app", "pelapor": {"hp": "xtelpx"}}
    assert record.api_key.startswith("env:")


def test_batch_routes_and_stores_each_item(app, client):
    items = [{"text": t} for t in ("air pdam mati", "sampah numpuk di tps", "ktp belum jadi")]
    response = client.post("/predict/batch", json={"items": items}, headers=KEY)
    assert response.status_code == 200
    assert [i["opd"]["code"] for i in response.json["items"]] == ["PDAM", "DLH", "DISDUKCAPIL"]
    assert len(stored(app)) == 3


def test_a_retry_with_the_same_external_id_gets_the_stored_prediction(app, client):
    complaint = {"text": "Sampah di TPS Jl. Imam Bonjol 3 hari tidak diangkut", "external_id": "laksa-9"}
    first = client.post("/predict", json=complaint, headers=KEY)
    again = client.post("/predict", json=complaint, headers=KEY)
    assert first.json["replayed"] is False and again.json == {**first.json, "replayed": True}
    assert len(stored(app)) == 1
    other_key = {"X-API-Key": create_api_key(app.extensions["laksa_sessions"], "call-centre")}
    theirs = client.post("/predict", json=complaint, headers=other_key)  # ids are each intake system's own
    assert theirs.json["replayed"] is False and theirs.json["prediction_id"] != first.json["prediction_id"]
    reused = client.post("/predict", json={**complaint, "text": "Jalan berlubang"}, headers=KEY)
    assert reused.status_code == 409 and reused.json["error"] == "external_id_reused"
    assert reused.json["fields"][0]["field"] == "external_id"
    assert first.json["prediction_id"] in reused.json["fields"][0]["problem"]
    assert len(stored(app)) == 2


def test_a_batch_replays_known_ids_and_refuses_repeated_ones(app, client):
    client.post("/predict", json={"text": "air pdam mati", "external_id": "a"}, headers=KEY)
    repeated = client.post("/predict/batch", json={"items": [{"text": "x y", "external_id": "b"},
                                                             {"text": "z", "external_id": "b"}]}, headers=KEY)
    assert repeated.status_code == 422 and repeated.json["fields"] == [
        {"field": "items.1.external_id", "problem": "repeats items.0"}]
    items = [{"text": "air pdam mati", "external_id": "a"}, {"text": "ktp belum jadi", "external_id": "c"},
             {"text": "ktp belum jadi"}]
    response = client.post("/predict/batch", json={"items": items}, headers=KEY)
    assert [i["replayed"] for i in response.json["items"]] == [True, False, False]
    assert len(stored(app)) == 3
    mixed = client.post("/predict/batch", json={"items": [{"text": "banjir", "external_id": "d"},
                                                          {"text": "lain", "external_id": "a"}]}, headers=KEY)
    assert mixed.status_code == 409 and mixed.json["fields"][0]["field"] == "items.1.external_id"
    assert len(stored(app)) == 3  # the whole batch is refused, its new item too


def test_simultaneous_retries_store_one_prediction(app):
    complaint = {"text": "Ada ular kobra di dapur rumah warga Karawaci", "external_id": "laksa-race"}

    def send(_):
        return app.test_client().post("/predict", json=complaint, headers=KEY).json["prediction_id"]

    with ThreadPoolExecutor(8) as pool:
        ids = set(pool.map(send, range(32)))
    assert len(ids) == 1 and len(stored(app)) == 1


def test_simultaneous_batches_sharing_external_ids_in_another_order_all_succeed(app):
    # Each batch locks its ids' index entries as it inserts: in opposite orders, PostgreSQL saw a deadlock.
    items = [{"text": f"jalan berlubang nomor {i} di cipondoh", "external_id": f"race-{i}"} for i in range(20)]

    def send(round_and_order):
        round_, order = round_and_order
        batch = [{**item, "external_id": f"{item['external_id']}-{round_}"} for item in items][::order]
        return app.test_client().post("/predict/batch", json={"items": batch}, headers=KEY).status_code

    with ThreadPoolExecutor(2) as pool:
        statuses = list(pool.map(send, [(round_, order) for round_ in range(15) for order in (1, -1)]))
    assert statuses == [200] * 30 and len(stored(app)) == 15 * 20


def test_hostile_input_gets_a_clear_4xx_and_adds_no_metrics_series(client):
    nested = "x"
    for _ in range(40):
        nested = {"a": nested}
    answer = client.post("/predict", json={"text": "lampu mati", "metadata": nested}, headers=KEY)
    assert answer.status_code == 422 and answer.json["error"] == "too_deep"
    brackets = client.get("/health", data="[" * 3000 + "]" * 3000, content_type="application/json")
    assert brackets.status_code == 400 and brackets.json["error"] == "invalid_json"  # was a RecursionError: 500
    accented = client.post("/predict", json={"text": "lampu mati"}, headers={"X-API-Key": "kunci-\xe9"})
    assert accented.status_code == 401  # hmac refused to compare a non-ASCII str: 500
    series = 'laksa_http_requests_total{endpoint="unmatched",method="other",status="405"}'

    def invented_methods_counted():  # the counters are the process's: other tests count too
        lines = client.get("/metrics").get_data(as_text=True).splitlines()
        assert not any('method="M' in line for line in lines)  # each would be a series of its own
        return sum(float(line.split()[-1]) for line in lines if line.startswith(series))

    before = invented_methods_counted()
    for method in ("M1", "M2", "M3"):
        assert client.open("/health", method=method).status_code == 405
    assert invented_methods_counted() == before + 3


@pytest.mark.parametrize("headers, error", [({}, "missing_api_key"), ({"X-API-Key": "nope"}, "invalid_api_key")])
def test_wrong_or_missing_key_is_401(client, headers, error):
    response = client.post("/predict", json={"text": "lampu mati"}, headers=headers)
    assert response.status_code == 401 and response.json["error"] == error
    assert response.json["fields"][0]["field"] == "X-API-Key"


@pytest.mark.parametrize("body, status, field", [
    ({}, 422, "text"),
    ({"text": "   "}, 422, "text"),
    ({"text": 42}, 422, "text"),
    ({"text": "ok", "metadata": "x"}, 422, "metadata"),
    ({"text": "ok", "extra": 1}, 422, "extra"),
    ({"text": "x" * 10_001}, 422, "text"),
    # Values a database cannot hold (PostgreSQL: NUL, NaN; both: lone surrogates): once a 503 "retry later"
    # on PostgreSQL that no retry could cure, or a 500.
    ({"text": "lampu\x00 mati"}, 422, "text"),
    ({"text": "lampu mati \ud800"}, 422, "text"),
    ({"text": "ok", "external_id": "a\x00"}, 422, "external_id"),
    ({"text": "ok", "metadata": {"kanal": {"skor": float("nan")}}}, 422, "metadata.kanal.skor"),
])
def test_invalid_bodies_name_the_field(app, client, body, status, field):
    response = client.post("/predict", json=body, headers=KEY)
    assert response.status_code == status, response.json
    assert response.json["fields"][0]["field"] == field and response.json["fields"][0]["problem"]
    assert stored(app) == []



@pytest.mark.parametrize("text", [
    "\u200b", " \u200b\u200c\n\u200d\u2060\ufeff ", "\u00ad\u202e\t\U000e0041",
    # Invisible without being format characters: Hangul fillers, the Braille blank, variation selectors.
    "\u3164\u3164", "\u2800 \u2800", "\u115f", "\ufe0f", "\u1160\u034f\ufe00\U000e0100\u180b\u180f\uffa0\u17b4",
])
def test_a_text_of_invisible_characters_is_blank(app, client, text):
    blank = client.post("/predict", json={"text": "   "}, headers=KEY).json
    one = client.post("/predict", json={"text": text}, headers=KEY)
    assert one.status_code == 422 and one.json == blank  # zero-width and other format characters were routed
    batch = client.post("/predict/batch", json={"items": [{"text": "lampu mati"}, {"text": text}]}, headers=KEY)
    assert batch.status_code == 422
    assert batch.json["fields"] == [{"field": "items.1.text", "problem": blank["fields"][0]["problem"]}]
    for mixed in (f"lampu{text}mati", f"{text} lampu mati"):
        assert client.post("/predict", json={"text": mixed}, headers=KEY).status_code == 200
    assert len(stored(app)) == 2

@pytest.mark.parametrize("item, status, field", [
    ({"text": "   "}, 422, "items.0.text"),
    ({"text": 42}, 422, "items.0.text"),
    ({"text": "x" * 10_001}, 422, "items.0.text"),
    ({"text": "ok", "external_id": "a\x00"}, 422, "items.0.external_id"),
    ({"text": "jalan berlubang", "external_id": "sent"}, 409, "items.0.external_id"),
])
@pytest.mark.parametrize("others", [0, 1])
def test_batch_errors_name_the_item_in_a_batch_of_one_too(app, client, item, status, field, others):
    client.post("/predict", json={"text": "air pdam mati", "external_id": "sent"}, headers=KEY)
    items = [item] + [{"text": "lampu mati"}] * others
    response = client.post("/predict/batch", json={"items": items}, headers=KEY)
    assert response.status_code == status, response.json
    assert response.json["fields"][0]["field"] == field  # a batch of one said `text`, `external_id`
    assert len(stored(app)) == 1

def test_non_json_body_is_400(client):
    response = client.post("/predict", data="text=lampu", headers={**KEY, "Content-Type": "text/plain"})
    assert response.status_code == 400 and response.json["error"] == "invalid_json"
    response = client.post("/predict", data="{not json", headers={**KEY, "Content-Type": "application/json"})
    assert response.status_code == 400


def test_batch_too_large_and_body_too_large(app, client):
    response = client.post("/predict/batch", json={"items": [{"text": "lampu mati"}] * 101}, headers=KEY)
    assert response.status_code == 422 and response.json["error"] == "batch_too_large"
    response = client.post("/predict", json={"text": "a" * (3 * 1024 * 1024)}, headers=KEY)
    assert response.status_code == 413 and response.is_json
    assert stored(app) == []


def test_a_chunked_body_over_the_limit_is_the_same_413(app, client):
    def chunked(text):  # no Content-Length, as gunicorn hands on Transfer-Encoding: chunked
        body = io.BytesIO(json.dumps({"text": text}).encode())
        return client.post("/predict", input_stream=body, environ_overrides={"wsgi.input_terminated": True},
                           headers={**KEY, "Content-Type": "application/json", "Transfer-Encoding": "chunked"})

    limit = app.config["LAKSA_MAX_BODY_BYTES"]
    over = chunked("a" * (limit - 12 + 1))  # {"text": "..."} is 12 bytes around the text
    assert over.status_code == 413  # werkzeug read up to the limit and the cut JSON was a 400 invalid_json
    assert over.json == client.post("/predict", json={"text": "a" * limit}, headers=KEY).json
    assert chunked("a" * (limit - 12)).json["error"] == "text_too_long"  # the limit itself is allowed
    assert chunked("lampu mati").status_code == 200 and len(stored(app)) == 1


def test_a_chunked_body_is_not_read_before_the_api_key_is_checked(app, client):
    for key in ({}, {"X-API-Key": "wrong"}):
        body = io.BytesIO(json.dumps({"text": "a" * app.config["LAKSA_MAX_BODY_BYTES"]}).encode())
        response = client.post("/predict", input_stream=body, environ_overrides={"wsgi.input_terminated": True},
                               headers={**key, "Content-Type": "application/json", "Transfer-Encoding": "chunked"})
        assert response.status_code == 401  # not the 413 its size would get with a valid key
        assert body.tell() == 0  # it was read up to the limit before the key was looked at


def test_unknown_route_and_wrong_method_are_json(client):
    assert client.get("/nope").status_code == 404 and client.get("/nope").json["error"] == "not_found"
    response = client.get("/predict", headers=KEY)
    assert response.status_code == 405 and response.is_json
    assert "POST" in response.headers["Allow"]  # RFC 9110: a 405 names the methods that work


def test_storage_failure_is_503_and_nothing_is_claimed(app, client):
    engine = app.extensions["laksa_sessions"].kw["bind"]
    with engine.begin() as connection:  # the table the prediction must go to is gone
        connection.exec_driver_sql("ALTER TABLE predictions RENAME TO predictions_away")
    try:
        response = client.post("/predict", json={"text": "lampu jalan mati"}, headers=KEY)
        # SQLite reports a missing table as an OperationalError, as it does a locked or missing file
        assert response.status_code == 503 and response.headers["Retry-After"] == "5"
        assert response.json["error"] == ("database_unavailable" if engine.dialect.name == "sqlite"
                                          else "storage_unavailable")
        assert client.get("/health").status_code == 200  # the service stays up
    finally:
        with engine.begin() as connection:
            connection.exec_driver_sql("ALTER TABLE predictions_away RENAME TO predictions")
    assert stored(app) == []
    assert client.post("/predict", json={"text": "lampu jalan mati"}, headers=KEY).status_code == 200


def test_health_ready_model_and_openapi(client):
    assert client.get("/health").json == {"status": "ok"}
    assert client.get("/ready").json["status"] == "ready"
    model = client.get("/model").json
    assert "DPUPR" in model["labels"]["opd"] and model["thresholds"]["opd"] > 0 and model["version"]
    spec = client.get("/openapi.json").json
    assert {"/predict", "/predict/batch", "/health", "/ready", "/model"} <= set(spec["paths"])
    assert "text" in str(spec["components"]["schemas"]["Complaint"])
    assert client.get("/docs/swagger").status_code == 200


def test_metrics_count_requests_and_predictions(client):
    client.post("/predict", json={"text": "banjir setinggi dada di periuk butuh perahu"}, headers=KEY)
    text = client.get("/metrics").get_data(as_text=True)
    assert 'laksa_http_requests_total{endpoint="/predict",method="POST",status="200"}' in text
    assert "laksa_predictions_total{opd=" in text and "laksa_model_info{version=" in text
    assert 'laksa_http_request_seconds_count{endpoint="/predict",status="200"}' in text
    assert "laksa_predictions_needs_review_total" in text


def test_stored_api_keys_work_and_count(app, client):
    from classifier.db import create_api_key

    key = create_api_key(app.extensions["laksa_sessions"], "call-centre")
    assert client.post("/predict", json={"text": "lampu mati"}, headers={"X-API-Key": key}).status_code == 200
    assert stored(app)[0].api_key == "call-centre"


def test_a_database_outage_is_a_503_and_metrics_stay_up(trained_model_dir):
    from classifier.serve import create_app

    app = create_app({"LAKSA_MODEL_DIR": str(trained_model_dir), "LAKSA_MIGRATE": "0", "LAKSA_API_KEYS": API_KEY,
                      "LAKSA_DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:9/laksa"})  # nothing listens
    client = app.test_client()
    answers = {"env key": client.post("/predict", json={"text": "lampu mati"}, headers=KEY),
               "stored key": client.post("/predict", json={"text": "lampu mati"}, headers={"X-API-Key": "other"}),
               "drift": client.get("/drift"), "ready": client.get("/ready"),
               "review queue": client.get("/review", headers={"Authorization": "Basic YnVkaTpzYWxhaA=="})}
    assert {name: answer.status_code for name, answer in answers.items()} == dict.fromkeys(answers, 503)
    unreachable = [answers[name] for name in ("env key", "stored key", "review queue")]
    assert {(a.json["error"], a.headers.get("Retry-After")) for a in unreachable} == {("database_unavailable", "5")}
    operator = client.get("/operator/", headers={"Authorization": "Basic YnVkaTpzYWxhaA=="})
    assert operator.status_code == 503 and "Basis data" in operator.get_data(as_text=True)
    metrics = client.get("/metrics")  # Prometheus sees the outage in the request counts
    assert metrics.status_code == 200 and 'status="503"' in metrics.get_data(as_text=True)
