"""The operators' pages: sign-in and its safeguards, escaping of citizen text, decisions, dashboard, admin."""
import html
import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from classifier.db import OverrideRecord, PredictionRecord, utcnow
from classifier.operators import highlight
from classifier.text import TextNormalizer
from conftest import API_KEY
from test_operators import PASSWORD, add_operator, add_prediction, login_token

HOSTILE = ["<script>alert('xss')</script> lampu jalan mati",
           'Lampu mati " onmouseover="alert(1)" data-x=\' <img src=x onerror=alert(2)>',
           "Lampu mati'; DROP TABLE predictions; -- </textarea><b>tebal</b>",
           "Sampah &lt;b&gt; numpuk &amp; bau <mark>palsu</mark> lampu"]


def sign_in(client, username="budi", password=PASSWORD):
    return client.post("/operator/login", data={"username": username, "password": password,
                                                "csrf_token": login_token(client)})


def token(client, path="/operator/") -> str:
    return login_token(client, path)


@pytest.fixture(scope="module")
def normalizer():
    return TextNormalizer()


@pytest.mark.parametrize("raw", HOSTILE)
def test_highlighting_escapes_the_text_before_marking_it(raw, normalizer):
    marked = str(highlight(raw, ["lampu", "mati", "script", "onmouseover", "img", "drop", "textarea", "mark"],
                           normalizer))
    assert "<mark>" in marked
    bare = marked.replace("<mark>", "").replace("</mark>", "")
    assert "<" not in bare and ">" not in bare and '"' not in bare and "'" not in bare
    assert html.unescape(bare) == raw  # nothing lost, nothing added but the marks


def test_highlighting_marks_words_by_their_stem_slang_and_bigrams(normalizer):
    marked = str(highlight("Lampunya mati, PJU di jalan Daan Mogot gelap. Jalan rusak juga.",
                           ["lampu", "mati", "terang", "jalan rusak"], normalizer))
    assert re.findall(r"<mark>(\w+)</mark>", marked) == ["Lampunya", "mati", "PJU", "Jalan", "rusak"]


def test_pages_need_a_sign_in_and_the_sign_in_sets_a_safe_cookie(app, client):
    add_operator(app, "budi")
    for path in ("/operator/", "/operator/dashboard", "/operator/admin/operators"):
        answer = client.get(path)
        assert answer.status_code == 302 and answer.location.startswith("/operator/login")
    wrong = sign_in(client, password="salah-sekali")
    assert wrong.status_code == 401 and "salah" in wrong.get_data(as_text=True)
    no_token = client.post("/operator/login", data={"username": "budi", "password": PASSWORD})
    assert no_token.status_code == 400 and "Formulir" in no_token.get_data(as_text=True)
    answer = client.post("/operator/login", data={"username": "budi", "password": PASSWORD,
                                                  "next": "/operator/dashboard?from=2026-01-01",
                                                  "csrf_token": login_token(client)})
    assert answer.status_code == 302 and answer.location == "/operator/dashboard?from=2026-01-01"
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie
    page = client.get("/operator/")
    assert page.status_code == 200 and "script-src" not in page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]


def test_a_sign_in_ends_after_the_session_hours_without_a_request(app, client):
    import time

    assert app.config["PERMANENT_SESSION_LIFETIME"] == timedelta(hours=12)  # LAKSA_SESSION_HOURS' default
    add_operator(app, "budi")
    sign_in(client)
    cookie = client.get_cookie("session").value  # as a copied cookie would be replayed
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(seconds=1)
    time.sleep(2.1)
    replayed = app.test_client()
    replayed.set_cookie("session", cookie)
    answer = replayed.get("/operator/")
    assert answer.status_code == 302 and answer.location.startswith("/operator/login")


def test_signing_out_ends_the_sign_in_for_a_copy_of_its_cookie_too(app, client):
    # A cookie copied off a shared control-room PC must not outlive "Keluar".
    add_operator(app, "budi")
    sign_in(client)
    cookie = client.get_cookie("session").value
    assert client.post("/operator/logout", data={"csrf_token": token(client)}).status_code == 302
    replayed = app.test_client()
    replayed.set_cookie("session", cookie)
    answer = replayed.get("/operator/")
    assert answer.status_code == 302 and answer.location.startswith("/operator/login")
    sign_in(client)  # and signing in again works
    assert client.get("/operator/").status_code == 200


@pytest.mark.parametrize("target", ["//evil.example/x", "/\t/evil.example", "/\n/evil.example", "/\\evil.example",
                                    "https://evil.example/", "/ /evil.example"])
def test_the_sign_in_never_redirects_to_another_site(app, client, target):
    # Browsers drop tabs and newlines and read a backslash as a slash: each of these would be //evil.example.
    add_operator(app, "budi")
    answer = client.post("/operator/login", data={"username": "budi", "password": PASSWORD, "next": target,
                                                  "csrf_token": login_token(client)})
    assert answer.status_code == 302 and answer.location == "/operator/"


def test_failed_sign_ins_are_rate_limited_per_ip_across_form_and_basic_auth(app, client):
    add_operator(app, "budi")
    for _ in range(3):
        assert sign_in(client, password="tebakan-salah").status_code == 401
    wrong = {"Authorization": "Basic YnVkaTpzYWxhaA=="}  # budi:salah
    assert client.get("/review", headers=wrong).status_code == 401
    page = client.get("/operator/dashboard", headers=wrong)  # a page answers a guess with a 401, not the login form
    assert page.status_code == 401 and "kata sandi salah" in page.get_data(as_text=True)
    blocked = sign_in(client)  # the right password, too late
    assert blocked.status_code == 429 and "Terlalu banyak" in blocked.get_data(as_text=True)
    assert client.get("/review", headers={"Authorization": "Basic YnVkaTpzYWxhaA=="}).status_code == 429


def test_sign_in_limits_hold_per_process_when_their_redis_is_down(trained_model_dir, tmp_path):
    from classifier.serve import create_app

    app = create_app({"LAKSA_MODEL_DIR": str(trained_model_dir), "LAKSA_DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
                      "LAKSA_RATELIMIT_STORAGE_URI": "redis://127.0.0.1:9/0"})  # nothing listens there
    wrong = {"Authorization": "Basic YnVkaTpzYWxhaA=="}
    assert [app.test_client().get("/review", headers=wrong).status_code for _ in range(6)] == [401] * 5 + [429]
    with pytest.raises(ValueError, match="LAKSA_RATELIMIT_STORAGE_URI='bogus://x': unknown storage scheme"):
        create_app({"LAKSA_MODEL_DIR": str(trained_model_dir), "LAKSA_DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
                    "LAKSA_RATELIMIT_STORAGE_URI": "bogus://x"})


def test_successful_sign_ins_are_not_rate_limited(app):
    add_operator(app, "budi")
    for _ in range(8):  # a shift change: many operators behind one address
        client = app.test_client()
        assert sign_in(client).status_code == 302


def test_a_page_number_past_the_end_still_shows_the_queue_page(app, client):
    add_operator(app, "budi")
    sign_in(client)
    answer = client.get(f"/operator/?page={10 ** 20}")  # once a 500: the offset overflowed the database's integer
    assert answer.status_code == 302 and answer.location == "/operator/?page=1"
    assert "budi" in client.get(answer.location).get_data(as_text=True)


def test_odd_page_numbers_and_dates_get_a_page_not_a_500(app, client):
    add_operator(app, "budi")
    sign_in(client)
    assert client.get("/operator/?page=%C2%B2").status_code == 200  # "²".isdigit(), but int("²") fails
    for query, message in (("to=9999-12-31", "Tanggal tidak valid"), ("from=0001-01-01", "Tanggal tidak valid"),
                           ("to=0001-01-05", "Tanggal tidak valid"),  # 30 days before it: an OverflowError
                           ("from=9999-12-30&to=9999-12-31T23:00:00%2B00:00", "Tanggal tidak valid"),
                           ("from=2000-01-01", "terlalu panjang"),  # one chart entry a day since 2000
                           ("from=2026-11-01T13:00", "Tanggal tidak valid")):  # its charts count whole days
        answer = client.get(f"/operator/dashboard?{query}")
        assert answer.status_code == 422 and message in answer.get_data(as_text=True)
    chart = client.get("/operator/dashboard/volume.svg?from=0001-01-01T00:00:00%2B00:00&to=0001-01-03")
    assert chart.status_code == 422


def test_citizen_text_is_escaped_on_every_page(app, client):
    add_operator(app, "budi")
    routed = client.post("/predict/batch", json={"items": [{"text": t} for t in HOSTILE]},
                         headers={"X-API-Key": API_KEY})
    ids = [item["prediction_id"] for item in routed.json["items"]]
    # The queue lists what the model flagged; make sure all hostile texts are in it whatever the model said.
    with app.extensions["laksa_sessions"].begin() as session:
        session.execute(PredictionRecord.__table__.update().values(needs_review=True))
    sign_in(client)
    pages = [client.get("/operator/"), client.get("/operator/dashboard"),
             *[client.get(f"/operator/complaints/{i}") for i in ids]]
    for page in pages:
        body = page.get_data(as_text=True)
        assert page.status_code == 200
        for needle in ("<script>", "onmouseover=\"", "<img src=x", "<b>tebal", "</textarea><b>", "<mark>palsu"):
            assert needle not in body
    queue = pages[0].get_data(as_text=True)
    assert "&lt;script&gt;" in queue and "DROP TABLE predictions" in queue
    shown = re.search(r'id="complaint-text">(.*?)</div>', pages[4].get_data(as_text=True), re.S).group(1)
    assert html.unescape(shown.replace("<mark>", "").replace("</mark>", "")) == HOSTILE[2]
    with app.extensions["laksa_sessions"]() as session:  # the SQL fragment was data, never SQL
        assert session.execute(text("SELECT COUNT(*) FROM predictions")).scalar() == len(HOSTILE)


def test_an_operator_claims_then_overrides_through_the_pages(app, client):
    add_operator(app, "budi")
    prediction_id = add_prediction(app, text="Lampu jalan mati total", opd="DISHUB")
    sign_in(client)
    queue = client.get("/operator/").get_data(as_text=True)
    assert f"/operator/complaints/{prediction_id}/claim" in queue
    opened = client.post(f"/operator/complaints/{prediction_id}/claim", data={"csrf_token": token(client)})
    assert opened.location == f"/operator/complaints/{prediction_id}"
    page = client.get(opened.location).get_data(as_text=True)
    assert "Anda sedang menangani" in page and "<mark>Lampu</mark>" in page

    category = next(c for c in app.extensions["laksa_registry"].categories.values() if c.usual_opd == "DLH").code
    form = {"csrf_token": token(client), "action": "override", "opd": "DLH", "category": category, "reason": ""}
    refused = client.post(f"/operator/complaints/{prediction_id}/decide", data=form)
    body = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "Alasan wajib diisi" in body
    assert re.search(r'<option value="DLH" selected>', body)  # the choice is kept for the retry
    done = client.post(f"/operator/complaints/{prediction_id}/decide", data={**form, "reason": "sampah, bukan PJU"})
    assert done.status_code == 302 and done.location == "/operator/"
    after = client.get("/operator/").get_data(as_text=True)
    assert "Koreksi tersimpan" in after and prediction_id not in after  # decided: out of the queue
    with app.extensions["laksa_sessions"]() as session:
        record = session.scalar(select(OverrideRecord))
    assert (record.operator, record.action, record.previous_opd, record.opd, record.category, record.reason) == (
        "budi", "override", "DISHUB", "DLH", category, "sampah, bukan PJU")
    history = client.get(f"/operator/complaints/{prediction_id}").get_data(as_text=True)
    assert "Dikoreksi" in history and "sampah, bukan PJU" in history


def test_a_page_confirm_and_a_claim_conflict(app, client):
    add_operator(app, "budi"), add_operator(app, "ani")
    prediction_id = add_prediction(app)
    other = app.test_client()
    sign_in(other, "ani")
    other.post(f"/operator/complaints/{prediction_id}/claim", data={"csrf_token": token(other)})
    sign_in(client)
    assert "Ditangani ani" in client.get("/operator/").get_data(as_text=True)
    refused = client.post(f"/operator/complaints/{prediction_id}/claim", data={"csrf_token": token(client)})
    assert "ditangani oleh ani" in client.get(refused.location).get_data(as_text=True)
    refused = client.post(f"/operator/complaints/{prediction_id}/decide",
                          data={"csrf_token": token(client), "action": "confirm", "reason": ""})
    assert refused.status_code == 409 and "ditangani oleh ani" in refused.get_data(as_text=True)
    confirmed = other.post(f"/operator/complaints/{prediction_id}/decide",
                           data={"csrf_token": token(other), "action": "confirm", "reason": ""})
    assert confirmed.status_code == 302
    with app.extensions["laksa_sessions"]() as session:
        assert session.scalars(select(OverrideRecord.operator)).all() == ["ani"]
    missing = client.get("/operator/complaints/tidak-ada")
    assert missing.status_code == 404 and "Keluhan tidak ditemukan" in missing.get_data(as_text=True)


def test_a_decision_and_a_refused_claim_go_back_to_the_queue_page_the_operator_came_from(app, client):
    add_operator(app, "budi"), add_operator(app, "ani")
    ids = [add_prediction(app, opd="DLH", opd_confidence=0.3 + i / 100) for i in range(27)]  # two pages of 25
    add_prediction(app, opd="DISHUB")
    sign_in(client)
    back = "/operator/?opd=DLH&from=2020-01-01&page=2"
    queue = client.get(back).get_data(as_text=True)
    assert queue.count(f'<input type="hidden" name="back" value="{html.escape(back)}">') == 2  # ids 25 and 26
    other = app.test_client()
    sign_in(other, "ani")
    other.post(f"/operator/complaints/{ids[26]}/claim", data={"csrf_token": token(other)})
    refused = client.post(f"/operator/complaints/{ids[26]}/claim", data={"csrf_token": token(client), "back": back})
    assert refused.location == back and "ditangani oleh ani" in client.get(back).get_data(as_text=True)
    assert f'href="/operator/complaints/{ids[26]}?back=' in client.get(back).get_data(as_text=True)  # "Lihat"

    opened = client.post(f"/operator/complaints/{ids[25]}/claim", data={"csrf_token": token(client), "back": back})
    assert opened.location.startswith(f"/operator/complaints/{ids[25]}?back=")
    page = client.get(opened.location).get_data(as_text=True)
    seen = shown_label(page)
    assert page.count(f'name="back" value="{html.escape(back)}"') == 2  # both decision forms
    assert f'<a href="{html.escape(back)}">' in page  # and "Kembali ke antrean"
    form = {"csrf_token": token(client), "action": "override", "opd": "DISHUB", "reason": "", "back": back, **seen}
    retry = client.post(f"/operator/complaints/{ids[25]}/decide", data=form)
    assert retry.status_code == 422 and retry.get_data(as_text=True).count(f'value="{html.escape(back)}"') == 2
    done = client.post(f"/operator/complaints/{ids[25]}/decide", data={**form, "action": "confirm"})
    assert done.status_code == 302 and done.location == back
    assert "Rute dikonfirmasi" in client.get(back).get_data(as_text=True)


def test_a_decision_goes_back_only_to_the_queue(app, client):
    add_operator(app, "budi"), add_operator(app, "ani")
    other = app.test_client()
    sign_in(other, "ani"), sign_in(client)
    for back in ("//evil.example/operator/", "https://evil.example/operator/", "/\\evil.example", "javascript:x()",
                 "/operator/dashboard", "/operator/login?next=/operator/", "/review?/operator/", "/operator/\t/x"):
        first, second = add_prediction(app), add_prediction(app)
        page = client.get(f"/operator/complaints/{first}", query_string={"back": back}).get_data(as_text=True)
        assert page.count('name="back" value="/operator/"') == 2 and '<a href="/operator/">' in page, back
        decided = client.post(f"/operator/complaints/{first}/decide",
                              data={"csrf_token": token(client), "action": "confirm", "back": back})
        assert decided.location == "/operator/", back
        other.post(f"/operator/complaints/{second}/claim", data={"csrf_token": token(other)})
        refused = client.post(f"/operator/complaints/{second}/claim", data={"csrf_token": token(client), "back": back})
        assert refused.location == "/operator/", back


def test_a_decision_sent_again_from_the_page_is_recorded_once(app, client):
    add_operator(app, "budi")
    prediction_id = add_prediction(app, opd="DISHUB")
    sign_in(client)
    decide, back = f"/operator/complaints/{prediction_id}/decide", "/operator/?opd=DISHUB"
    _, seen = open_complaint(client, prediction_id)
    for action, fields in (("confirm", {"reason": ""}), ("override", {"opd": "DLH", "reason": "sampah"})):
        form = {"csrf_token": token(client), "action": action, "back": back, **fields, **seen}
        assert client.post(decide, data=form).location == back
        client.get(back)  # its flash
        again = client.post(decide, data=form)  # the back button, then the same form sent again
        assert again.status_code == 302 and again.location == back
        assert "Keputusan ini sudah tercatat." in client.get(back).get_data(as_text=True)
        _, seen = open_complaint(client, prediction_id)
    with app.extensions["laksa_sessions"]() as session:
        assert session.scalars(select(OverrideRecord.action).order_by(OverrideRecord.id)).all() == ["confirm",
                                                                                                   "override"]


def open_complaint(client, prediction_id: str) -> tuple[str, dict]:
    """The complaint page, and the label it shows as its decision forms send it back (seen_*)."""
    page = client.get(f"/operator/complaints/{prediction_id}").get_data(as_text=True)
    return page, shown_label(page)


def budi_opens_a_complaint(app, client, opd: str) -> tuple[dict, str, str, dict]:
    """Budi signed in on a new complaint's page; Ani's credentials, to decide on it meanwhile."""
    add_operator(app, "budi")
    ani = add_operator(app, "ani")
    prediction_id = add_prediction(app, opd=opd)
    sign_in(client)
    return (ani, prediction_id, *open_complaint(client, prediction_id))


def shown_label(page: str) -> dict:
    return dict(re.findall(r'name="(seen_category|seen_opd)" value="([^"]*)"', page))


def _selected(page: str, name: str) -> str:
    select = re.search(rf'<select id="{name}" name="{name}">(.*?)</select>', page, re.S).group(1)
    return re.search(r'<option value="([^"]*)" selected', select).group(1)


def test_a_page_decision_on_a_label_another_operator_changed_is_refused(app, client):
    ani, prediction_id, _, seen = budi_opens_a_complaint(app, client, opd="DISHUB")
    assert seen["seen_opd"] == "DISHUB"
    assert app.test_client().post(f"/predictions/{prediction_id}/override", json={"opd": "DLH", "reason": "sampah"},
                                  headers=ani).status_code == 201  # Ani, meanwhile, from her own script
    answer = client.post(f"/operator/complaints/{prediction_id}/decide",
                         data={"csrf_token": token(client), "action": "confirm", "reason": "", **seen})
    assert answer.status_code == 409 and "Operator lain baru saja mengubah" in answer.get_data(as_text=True)
    assert 'name="seen_opd" value="DLH"' in answer.get_data(as_text=True)  # the page shows the new label


def test_saving_again_after_a_refusal_keeps_what_the_other_operator_changed(app, client):
    ani, prediction_id, page, seen = budi_opens_a_complaint(app, client, opd="DPUPR")
    fixed = next(code for code in app.extensions["laksa_registry"].categories if code != seen["seen_category"])
    assert app.test_client().post(f"/predictions/{prediction_id}/override", json={"category": fixed, "reason": "x"},
                                  headers=ani).status_code == 201  # Ani fixes the category only
    mine = {"csrf_token": token(client), "action": "override", "reason": "bukan jalan", "opd": "DLH",
            "category": _selected(page, "category")}  # Budi changes the OPD only
    refused = client.post(f"/operator/complaints/{prediction_id}/decide", data={**mine, **seen})
    assert refused.status_code == 409
    page = refused.get_data(as_text=True)
    assert _selected(page, "opd") == "DLH" and _selected(page, "category") == fixed  # his change, her category
    seen = shown_label(page)
    again = {**mine, "csrf_token": token(client), "category": _selected(page, "category"), **seen}
    assert client.post(f"/operator/complaints/{prediction_id}/decide", data=again).status_code == 302
    with app.extensions["laksa_sessions"]() as session:
        last = session.scalars(select(OverrideRecord).order_by(OverrideRecord.id.desc())).first()
    assert (last.category, last.opd) == (fixed, "DLH")


def test_an_opd_correction_keeps_a_category_the_registry_no_longer_has(app, client):
    add_operator(app, "budi")
    prediction_id = add_prediction(app, opd="DISHUB", category="parkir_lama")  # stored before a retraining
    sign_in(client)
    page = client.get(f"/operator/complaints/{prediction_id}").get_data(as_text=True)
    assert _selected(page, "category") == "" and "(tetap: parkir_lama)" in page
    seen = shown_label(page)
    form = {"csrf_token": token(client), "action": "override", "reason": "liar di trotoar", "opd": "SATPOLPP",
            "category": _selected(page, "category"), **seen}
    assert client.post(f"/operator/complaints/{prediction_id}/decide", data=form).status_code == 302
    with app.extensions["laksa_sessions"]() as session:
        last = session.scalars(select(OverrideRecord)).one()
    assert (last.category, last.opd) == ("parkir_lama", "SATPOLPP")  # not the first category of the list


def test_a_reason_with_line_breaks_counts_them_as_the_text_box_does(app, client):
    from classifier.review import MAX_REASON_CHARS

    add_operator(app, "budi")
    prediction_id = add_prediction(app)
    sign_in(client)
    reason = "\r\n".join(["salah rute"] * 181)  # how a browser sends a text box's line breaks
    assert len(reason.replace("\r\n", "\n")) <= MAX_REASON_CHARS < len(reason)
    page, seen = open_complaint(client, prediction_id)
    form = {"csrf_token": token(client), "action": "override", "opd": "DLH", "reason": reason, **seen}
    assert client.post(f"/operator/complaints/{prediction_id}/decide", data=form).status_code == 302
    with app.extensions["laksa_sessions"]() as session:
        assert "\r" not in session.scalars(select(OverrideRecord.reason)).one()


def test_the_dashboard_counts_and_draws(app, client):
    auth = add_operator(app, "budi")
    now = utcnow()
    ids = [add_prediction(app, opd=opd, needs_review=review, created_at=now - timedelta(days=age))
           for opd, review, age in [("DISHUB", True, 0), ("DISHUB", False, 0), ("DLH", True, 1), ("DLH", True, 2),
                                    ("DLH", False, 40)]]
    client.post(f"/predictions/{ids[0]}/override", json={"opd": "DLH", "reason": "x"}, headers=auth)
    client.post(f"/predictions/{ids[2]}/confirm", json={}, headers=auth)
    client.post(f"/predictions/{ids[3]}/override", json={"opd": "DINSOS", "reason": "y"}, headers=auth)
    sign_in(client)
    page = client.get("/operator/dashboard").get_data(as_text=True)
    kpis = re.findall(r"<small>([^<]+)</small><strong>([^<]+)</strong>", page)
    assert dict(kpis) == {"Keluhan masuk": "4", "Perlu tinjauan": "75%", "Sudah ditinjau operator": "3",
                          "Tingkat koreksi": "67%"}  # the 40-day-old one is outside the default 30 days
    charts = re.findall(r'<img src="([^"]+)"', page)
    assert len(charts) == 4
    for url in charts:
        chart = client.get(html.unescape(url))
        assert chart.status_code == 200 and chart.mimetype == "image/svg+xml" and b"<svg" in chart.data
    opd_chart = client.get(html.unescape(charts[1])).get_data(as_text=True)
    assert "Dinas Lingkungan Hidup" in opd_chart  # effective labels: DLH now leads
    wide = client.get(f"/operator/dashboard?from={(now - timedelta(days=60)).date()}").get_data(as_text=True)
    assert "<small>Keluhan masuk</small><strong>5</strong>" in wide
    assert client.get("/operator/dashboard/bocor.svg").status_code == 404
    assert client.get("/operator/dashboard?from=besok").status_code == 422
    assert "Kesehatan rute per minggu" in page and 'class="flagged"' in page  # this week: 3 of 4 need review
    assert "perlu tinjauan" in page.lower() and "⚠" in page


def test_a_wrong_address_or_method_under_the_pages_gets_the_indonesian_page(app, client):
    # Unmatched routes never reach the blueprint's own handlers: they came back as the API's English JSON.
    add_operator(app, "budi")
    sign_in(client)
    missing = client.get("/operator/antrean-lama")
    assert missing.status_code == 404 and missing.mimetype == "text/html"
    assert "Halaman tidak ditemukan" in missing.get_data(as_text=True)
    wrong_method = client.delete("/operator/")
    assert wrong_method.status_code == 405 and wrong_method.mimetype == "text/html"
    assert "GET" in wrong_method.headers["Allow"] and "tidak dapat dibuka" in wrong_method.get_data(as_text=True)
    api = client.get("/tidak-ada")  # the intake systems' side stays JSON
    assert api.status_code == 404 and api.json["error"] == "not_found"


def test_an_oversize_form_gets_the_same_413_page_whether_or_not_it_announces_its_length(app, client):
    form = b"username=" + b"a" * app.config["LAKSA_MAX_BODY_BYTES"]
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    announced = client.post("/operator/login", data=form, headers=headers)
    chunked = client.post("/operator/login", input_stream=io.BytesIO(form),  # no Content-Length, as under gunicorn
                          environ_overrides={"wsgi.input_terminated": True},
                          headers={**headers, "Transfer-Encoding": "chunked"})
    assert announced.status_code == chunked.status_code == 413 and chunked.mimetype == "text/html"
    assert "Kiriman terlalu besar" in chunked.get_data(as_text=True) and chunked.get_data() == announced.get_data()


def test_admins_create_accounts_on_their_page_and_operators_may_not(app, client):
    add_operator(app, "budi"), add_operator(app, "kepala", role="admin")
    sign_in(client, "budi")
    assert client.get("/operator/admin/operators").status_code == 403
    refused = client.post("/operator/admin/operators", data={"csrf_token": token(client), "username": "x",
                                                             "password": "cukup-panjang-1"})
    assert refused.status_code == 403
    admin = app.test_client()
    sign_in(admin, "kepala")
    made = admin.post("/operator/admin/operators", data={"csrf_token": token(admin, "/operator/admin/operators"),
                                                         "username": "citra", "password": "cukup-panjang-1",
                                                         "role": "operator"})
    assert made.status_code == 302
    assert "citra" in admin.get("/operator/admin/operators").get_data(as_text=True)
    assert sign_in(app.test_client(), "citra", "cukup-panjang-1").status_code == 302


def test_an_admin_disables_an_account_on_the_page_and_its_open_sign_in_ends(app, client):
    add_operator(app, "budi"), add_operator(app, "kepala", role="admin")
    sign_in(client, "budi")
    assert client.get("/operator/").status_code == 200
    admin = app.test_client()
    sign_in(admin, "kepala")
    page = "/operator/admin/operators"

    def change(who, username, action, **fields):
        return who.post(page, data={"csrf_token": token(who, page if who is admin else "/operator/"),
                                    "username": username, "action": action, **fields})

    done = change(admin, "budi", "disable")
    assert done.status_code == 302 and done.location == page
    listing = admin.get(page).get_data(as_text=True)
    assert "Nonaktif sejak" in listing and re.search(r"budi</td>\s*<td>dinonaktifkan</td>\s*<td>kepala</td>", listing)
    answer = client.get("/operator/")  # budi's open sign-in ends with the account
    assert answer.status_code == 302 and answer.location.startswith("/operator/login")
    assert sign_in(client, "budi").status_code == 401
    lockout = change(admin, "kepala", "disable")
    assert lockout.status_code == 422 and "Admin aktif terakhir" in lockout.get_data(as_text=True)
    weak = change(admin, "budi", "password", password="budi-dan-sandinya")
    assert weak.status_code == 422 and "tidak memuat nama pengguna" in weak.get_data(as_text=True)
    assert change(admin, "budi", "password", password="sandi-baru-kedua-2").status_code == 302
    assert change(admin, "budi", "enable").status_code == 302
    assert sign_in(client, "budi", "sandi-baru-kedua-2").status_code == 302
    assert change(admin, "siapa", "enable").status_code == 404
    assert change(admin, "budi", "hapus").status_code == 400
    assert change(client, "kepala", "disable").status_code == 403  # operators change no accounts
    assert "Aktif" in admin.get(page).get_data(as_text=True)
    assert change(admin, "kepala", "password", password="sandi-admin-baru-3").status_code == 302
    assert admin.get(page).status_code == 200  # an admin's own new password keeps their sign-in


def test_an_operator_changes_their_own_password_and_their_other_sign_ins_end(app, client):
    add_operator(app, "budi")
    sign_in(client)
    elsewhere = app.test_client()  # the same account, signed in on another device
    sign_in(elsewhere)
    page = "/operator/account"
    assert "Ubah kata sandi" in client.get(page).get_data(as_text=True)

    def change(current, new, again=None):
        return client.post(page, data={"csrf_token": token(client, page), "current_password": current,
                                       "password": new, "password_again": new if again is None else again})

    wrong = change("bukan-sandinya", "sandi-baru-kedua-2")  # a 401: counted by the sign-in limit
    assert wrong.status_code == 401 and "Kata sandi lama salah" in wrong.get_data(as_text=True)
    assert change(PASSWORD, "sandi-baru-kedua-2", "sandi-lain-ketiga-3").status_code == 422
    assert change(PASSWORD, "pendek").status_code == 422
    done = change(PASSWORD, "sandi-baru-kedua-2")
    assert done.status_code == 302 and done.location == page
    assert client.get("/operator/").status_code == 200  # this device stays signed in
    ended = elsewhere.get("/operator/")
    assert ended.status_code == 302 and ended.location.startswith("/operator/login")
    assert sign_in(app.test_client()).status_code == 401
    assert sign_in(app.test_client(), password="sandi-baru-kedua-2").status_code == 302
