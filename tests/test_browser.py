"""An operator's shift in a real browser: headless Debian Chromium, driven by Playwright, against gunicorn.

Signs in, opens the queue, corrects a route through the complaint page, finds the correction in the
export, and checks that the pages fit a tablet; an admin switches off the account of an operator who is
signed in. The screenshots it takes are the README's.
"""
import csv
import io
import os
import sqlite3
from pathlib import Path

import pytest
import requests

from conftest import LABELLED, ROOT
from test_service_e2e import KEY, running_service

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = ROOT / "docs" / "screenshots"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PASSWORD = "sandi-ruang-kendali-1"


def sample_complaints(every: int = 40) -> list[str]:
    """A spread of the shipped complaints, the vague ones a control room also gets, and one with markup."""
    texts = []
    for path in sorted(LABELLED.glob("*.csv")):
        with open(path, encoding="utf-8", newline="") as handle:
            texts += [row["text"] for i, row in enumerate(csv.DictReader(handle)) if i % every == 0]
    return texts + ["tolong pak, sudah lapor dari minggu lalu belum ada tindak lanjut",
                    "saya mau tanya prosedurnya gimana ya", "ada orang gila di pinggir jalan dekat pasar",
                    "air di rumah keruh dan bau sejak kemarin", "pohon depan sekolah miring, takut roboh",
                    "jalan di gang kami gelap dan sering ada genangan", "bau menyengat dari pabrik tiap malam",
                    "<script>alert(1)</script> tolong pak, ada yang aneh di depan rumah"]


@pytest.fixture(scope="module")
def shift(trained_model_dir, tmp_path_factory):
    """A running service holding two weeks of routed complaints and an operator account."""
    from classifier.accounts import create_operator
    from classifier.db import make_engine, make_sessionmaker

    workdir = tmp_path_factory.mktemp("browser")
    database = workdir / "laksa.db"
    with running_service(trained_model_dir, f"sqlite:///{database}", workdir,
                         {"LAKSA_SECURE_COOKIES": "0"}) as base:  # plain HTTP on loopback
        engine = make_engine(f"sqlite:///{database}")
        for username, role in (("sari", "operator"), ("dedi", "operator"), ("kepala", "admin")):
            create_operator(make_sessionmaker(engine), username, PASSWORD, role, by="test")
        engine.dispose()
        texts, routed = sample_complaints(), []
        for start in range(0, len(texts), 100):
            # Intake ids without spaces, as long as allowed: the pages must wrap them, not scroll sideways.
            batch = {"items": [{"text": t, "external_id": f"LAKSA-{start + i:04d}-" + "x" * 189}
                               for i, t in enumerate(texts[start:start + 100])]}
            answer = requests.post(f"{base}/predict/batch", json=batch, headers={"X-API-Key": KEY}, timeout=60)
            assert answer.status_code == 200
            routed += answer.json()["items"]
        # Earlier shifts' decisions, through the JSON API with basic auth: every fifth confirmed, every 15th moved.
        for i, item in enumerate(routed[:60:5]):
            action, body = ("override", {"opd": item["opd"]["alternatives"][0]["label"], "reason": "cek lapangan"}) \
                if i % 3 == 0 else ("confirm", {})
            assert requests.post(f"{base}/predictions/{item['prediction_id']}/{action}", json=body,
                                 auth=("sari", PASSWORD), timeout=10).status_code == 201
        with sqlite3.connect(database) as db:  # spread them over the last 14 days for the dashboard
            db.execute("UPDATE predictions SET created_at = datetime(created_at, '-' || (rowid % 14) || ' days')")
        yield base


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            raise RuntimeError("CI must run the browser test: make test installs Debian's chromium")
        pytest.skip("Debian's chromium is not installed (make test installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


def test_an_operator_corrects_a_route_and_finds_it_in_the_export(shift, browser):
    SHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="id-ID")
    page = context.new_page()
    page.set_default_timeout(15_000)

    page.goto(f"{shift}/operator/")
    assert page.url.startswith(f"{shift}/operator/login")
    page.fill("#username", "sari")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{shift}/operator/")
    assert page.locator("h1").inner_text() == "Antrean tinjauan"
    confidences = [float(t.rstrip("%")) for t in page.locator(".item .pill").all_inner_texts()]
    assert confidences and confidences == sorted(confidences)  # least certain first
    assert page.locator("script").count() == 0  # the citizen's <script> stays text
    page.screenshot(path=str(SHOTS / "queue.png"))

    page.locator(".item button", has_text="Tangani").first.click()
    page.wait_for_url(f"{shift}/operator/complaints/*")
    prediction_id = page.url.rsplit("/", 1)[1]
    assert "Anda sedang menangani" in page.inner_text(".banner")
    assert page.locator("#complaint-text mark").count() > 0  # the terms behind the route are highlighted
    page.screenshot(path=str(SHOTS / "complaint.png"), full_page=True)

    current = page.eval_on_selector("#opd", "select => select.value")
    other = next(v for v in page.eval_on_selector_all("#opd option", "os => os.map(o => o.value)") if v != current)
    page.select_option("#opd", other)
    page.fill("#reason", "Diperiksa di lokasi: bukan wewenang OPD semula")
    page.click("text=Simpan koreksi")
    page.wait_for_url(f"{shift}/operator/")
    assert "Koreksi tersimpan" in page.inner_text(".flash")

    export = context.request.get(f"{shift}/overrides?format=csv")  # the browser's session, as the nav link does
    assert export.ok and export.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.text())))
    mine = [r for r in rows if r["prediction_id"] == prediction_id]
    assert [(r["operator"], r["action"], r["previous_opd"], r["opd"], r["reason"]) for r in mine] == [
        ("sari", "override", current, other, "Diperiksa di lokasi: bukan wewenang OPD semula")]

    page.goto(f"{shift}/operator/dashboard")
    page.wait_for_load_state("load")  # the charts are images: loaded before "load" fires
    assert page.evaluate("Array.from(document.images).map(i => i.naturalWidth > 0)") == [True] * 4
    page.screenshot(path=str(SHOTS / "dashboard.png"), full_page=True)

    page.set_viewport_size({"width": 820, "height": 1180})  # a tablet held upright
    for path in ("/operator/", f"/operator/complaints/{prediction_id}", "/operator/dashboard"):
        page.goto(f"{shift}{path}")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} scrolls sideways on a tablet by {overflow}px"
    context.close()


def sign_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/operator/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/operator/")


def test_an_admin_switches_off_an_account_and_its_open_sign_in_ends(shift, browser):
    leaving, admin = (browser.new_context(viewport={"width": 1280, "height": 800}, locale="id-ID") for _ in range(2))
    dedi, kepala = leaving.new_page(), admin.new_page()
    sign_in(dedi, shift, "dedi")
    sign_in(kepala, shift, "kepala")
    kepala.goto(f"{shift}/operator/admin/operators")
    row = kepala.locator("#accounts tr", has_text="dedi")
    row.locator("button", has_text="Nonaktifkan").click()
    kepala.wait_for_url(f"{shift}/operator/admin/operators")
    assert "dedi dinonaktifkan" in kepala.inner_text(".flash")
    assert "Nonaktif sejak" in row.inner_text()
    latest_change = kepala.locator("#account-events tbody tr").first.inner_text()
    assert "dedi" in latest_change and "dinonaktifkan" in latest_change and "kepala" in latest_change
    kepala.screenshot(path=str(SHOTS / "accounts.png"), full_page=True)

    dedi.reload()  # the sign-in dedi had open ends with the account
    assert dedi.url.startswith(f"{shift}/operator/login")
    kepala.set_viewport_size({"width": 820, "height": 1180})
    overflow = kepala.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the accounts page scrolls sideways on a tablet by {overflow}px"
    leaving.close(), admin.close()
