"""Model versions: list, promote behind the gate, roll back, refuse broken models, switch live."""
import gc
import json
import multiprocessing
import shutil
import threading
import time

import pytest
import requests

from classifier import models as models_cli
from classifier.models_store import (CARD_FILE, ModelError, ModelHolder, load_model, promote, promoted_version,
                                     resolve_model_dir)
from classifier.report import REPORTED, compare
from test_service_e2e import KEY, running_service


def add_version(root, source, version, **card_changes):
    """A copy of `source` under `root` known as `version` (the artefact is the same)."""
    target = root / version
    shutil.copytree(source, target)
    card = json.loads((target / CARD_FILE).read_text())
    card.update(version=version, **card_changes)
    (target / CARD_FILE).write_text(json.dumps(card))
    return target


@pytest.fixture
def root(tmp_path, trained_model_dir):
    root = tmp_path / "models"
    root.mkdir()
    add_version(root, trained_model_dir, "20260101T000000Z-aaaaaa")
    add_version(root, trained_model_dir, "20260201T000000Z-bbbbbb")
    return root


def test_promote_rollback_and_history(root, capsys):
    assert models_cli.main(["--models-dir", str(root), "promote", "20260101T000000Z-aaaaaa"]) == 0
    assert models_cli.main(["--models-dir", str(root), "promote", "20260201T000000Z-bbbbbb"]) == 0
    out = capsys.readouterr().out
    assert "serving 20260101T000000Z-aaaaaa" in out and "candidate 20260201T000000Z-bbbbbb" in out  # gate table
    assert promoted_version(root) == "20260201T000000Z-bbbbbb"
    assert resolve_model_dir(root).name == "20260201T000000Z-bbbbbb"
    assert models_cli.main(["--models-dir", str(root), "rollback"]) == 0
    assert promoted_version(root) == "20260101T000000Z-aaaaaa"
    assert models_cli.main(["--models-dir", str(root), "list"]) == 0
    listing = capsys.readouterr().out
    assert "* " in listing and listing.count("2026") >= 2


def test_repeated_rollbacks_walk_back_through_the_promotions(root, trained_model_dir, capsys):
    a, b, c = "20260101T000000Z-aaaaaa", "20260201T000000Z-bbbbbb", "20260301T000000Z-cccccc"
    add_version(root, trained_model_dir, c)
    for version in (a, b, c):
        assert models_cli.main(["--models-dir", str(root), "promote", version, "--force"]) == 0
    for expected in (b, a):  # not back to c: a rollback is not a promotion to return to
        assert models_cli.main(["--models-dir", str(root), "rollback"]) == 0
        assert promoted_version(root) == expected
    assert models_cli.main(["--models-dir", str(root), "rollback"]) == 2
    assert "nothing to roll back to" in capsys.readouterr().err and promoted_version(root) == a


def test_gate_refuses_a_candidate_that_sends_almost_everything_to_review():
    serving = {"opd": {**{metric: 0.9 for metric in REPORTED}, "auto_route_coverage": 0.75}}
    candidate = {"opd": {**serving["opd"], "auto_route_coverage": 0.10, "auto_route_precision": 0.99}}
    passed, rows = compare(candidate, serving, tolerance=0.01)
    [coverage] = [row for row in rows if row[0] == "opd auto_route_coverage"]
    assert not passed and coverage[1:3] == [0.75, 0.10] and coverage[-1] == "REFUSED"
    slightly_less = {"opd": {**serving["opd"], "auto_route_coverage": 0.745}}
    assert compare(slightly_less, serving, tolerance=0.01)[0]  # within the tolerance


def test_gate_refuses_a_worse_candidate_unless_forced(root, tmp_path, capsys):
    from classifier.train import main as train_main

    promote(root, "20260101T000000Z-aaaaaa")
    weak = tmp_path / "weak.csv"  # a model that has seen 3 rows per OPD
    import pandas as pd
    from conftest import LABELLED
    frame = pd.concat(pd.read_csv(p, dtype=str) for p in sorted(LABELLED.glob("*.csv")))
    frame.groupby("opd").head(3).to_csv(weak, index=False)
    assert train_main(["--data", str(weak), "--out", str(root / "20260301T000000Z-cccccc")]) == 0
    code = models_cli.main(["--models-dir", str(root), "promote", "20260301T000000Z-cccccc"])
    captured = capsys.readouterr()
    assert code == 3 and "REFUSED" in captured.out and "not promoted" in captured.err
    assert promoted_version(root) == "20260101T000000Z-aaaaaa"
    assert models_cli.main(["--models-dir", str(root), "promote", "20260301T000000Z-cccccc", "--force"]) == 0
    assert promoted_version(root) == "20260301T000000Z-cccccc"


@pytest.mark.parametrize("damage, message", [
    (lambda d: (d / "model.joblib").write_bytes(b"garbage"), "checksum"),
    (lambda d: (d / CARD_FILE).write_text(json.dumps({**json.loads((d / CARD_FILE).read_text()),
                                                       "libraries": {"scikit-learn": "0.24.2"}})), "scikit-learn 0.24.2"),
    (lambda d: (d / CARD_FILE).write_text("{"), "unreadable card"),
])
def test_broken_models_are_refused_with_a_clear_message(root, damage, message, capsys):
    damage(root / "20260201T000000Z-bbbbbb")
    with pytest.raises(ModelError, match=message):
        load_model(root / "20260201T000000Z-bbbbbb")
    assert models_cli.main(["--models-dir", str(root), "promote", "20260201T000000Z-bbbbbb", "--force"]) == 2
    assert message in capsys.readouterr().err and promoted_version(root) is None


def test_service_switches_versions_without_a_failed_request(root, tmp_path, trained_model_dir):
    promote(root, "20260101T000000Z-aaaaaa")
    seen, failures, stop_sending = [], [], threading.Event()

    def send():
        with requests.Session() as session:
            while not stop_sending.is_set():
                try:
                    answer = session.post(f"{base}/predict", json={"text": "lampu jalan mati"},
                                          headers={"X-API-Key": KEY}, timeout=10)
                    (seen if answer.status_code == 200 else failures).append(
                        answer.json().get("model_version", answer.status_code))
                except requests.RequestException as error:
                    failures.append(repr(error))

    with running_service(root, f"sqlite:///{tmp_path / 'swap.db'}", tmp_path,
                         {"LAKSA_MODEL_POLL_SECONDS": "0.2"}) as base:
        senders = [threading.Thread(target=send) for _ in range(4)]
        try:
            for sender in senders:
                sender.start()
            time.sleep(1.0)
            promote(root, "20260201T000000Z-bbbbbb")
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and seen[-8:] != ["20260201T000000Z-bbbbbb"] * 8:
                time.sleep(0.2)
            # A broken version written straight into PROMOTED (a bad deploy) is refused; B keeps serving.
            broken = add_version(root, trained_model_dir, "20260301T000000Z-cccccc")
            (broken / "model.joblib").write_bytes(b"garbage")
            (root / "PROMOTED").write_text("20260301T000000Z-cccccc\n")
            time.sleep(2.0)
            stop_sending.set()
            for sender in senders:
                sender.join(timeout=15)
            model_now = requests.get(f"{base}/model", timeout=5).json()["version"]
            metrics = requests.get(f"{base}/metrics", timeout=5).text
        finally:
            stop_sending.set()
    assert failures == []
    assert seen[0] == "20260101T000000Z-aaaaaa" and "20260201T000000Z-bbbbbb" in seen
    assert seen[-1] == "20260201T000000Z-bbbbbb" and model_now == "20260201T000000Z-bbbbbb"
    assert len(seen) > 50
    # Each worker reports what it serves; A, set once by each worker (and by the master at start-up), is 0 now.
    served = {line.split('version="')[1].split('"')[0] for line in metrics.splitlines()
              if line.startswith("laksa_model_info{") and line.endswith(" 1.0")}
    assert served == {"20260201T000000Z-bbbbbb"}


def test_a_switched_out_model_does_not_stay_frozen(root):
    # Served models are frozen out of the collector's reach; a switched-out model's cyclic objects
    # (about 200, holding 13 MiB) stayed frozen with it, one more lot each switch. Counted in a fresh
    # process: here, other tests' threads allocate while a model loads, and each switch freezes that too.
    promote(root, "20260101T000000Z-aaaaaa")
    versions = ("20260201T000000Z-bbbbbb", "20260101T000000Z-aaaaaa") * 2 + ("20260201T000000Z-bbbbbb",)
    context = multiprocessing.get_context("forkserver")
    results = context.Queue()
    process = context.Process(target=_frozen_after_each_switch, args=(root, versions, results))
    process.start()
    frozen = results.get(timeout=300)
    process.join(timeout=60)
    assert frozen[-1] - frozen[0] < 200  # was about 4 x 196


def _frozen_after_each_switch(root, versions, results) -> None:
    holder, frozen = ModelHolder(root, poll_seconds=0), []
    for version in versions:
        promote(root, version)
        holder.current()  # starts loading the version
        holder._loading.join(timeout=60)
        assert holder.current().version == version
        frozen.append(gc.get_freeze_count())
    results.put(frozen)


def test_a_version_promoted_before_its_files_arrived_is_served_once_they_have(root, trained_model_dir):
    promote(root, "20260101T000000Z-aaaaaa")
    holder = ModelHolder(root, poll_seconds=0)

    def served_after_a_poll():
        holder.current()
        if holder._loading is not None:
            holder._loading.join(timeout=60)
        return holder.current().version

    late = "20260301T000000Z-cccccc"
    (root / "PROMOTED").write_text(late + "\n")  # a synced volume delivered PROMOTED first
    assert served_after_a_poll() == "20260101T000000Z-aaaaaa"
    copying = add_version(root, trained_model_dir, late)
    artefact = (copying / "model.joblib").read_bytes()
    (copying / "model.joblib").write_bytes(artefact[: len(artefact) // 2])  # half copied: refused
    assert served_after_a_poll() == "20260101T000000Z-aaaaaa"
    refusal = holder._loading
    assert served_after_a_poll() == "20260101T000000Z-aaaaaa" and holder._loading is refusal  # not tried again
    (copying / "model.joblib").write_bytes(artefact)
    assert served_after_a_poll() == late


def test_latest_is_the_newest_trained_and_odd_history_or_names_do_not_trip(root, trained_model_dir):
    add_version(root, trained_model_dir, "baseline", created_at="2020-01-01T00:00:00+00:00")  # copied in by hand
    assert models_cli.main(["--models-dir", str(root), "promote", "latest", "--force"]) == 0
    assert promoted_version(root) == "20260201T000000Z-bbbbbb"  # not "baseline", which sorts last by name
    # A folder name as the shell completes it; a blank line an editor left in the history.
    assert models_cli.main(["--models-dir", str(root), "promote", "20260101T000000Z-aaaaaa/", "--force"]) == 0
    assert promoted_version(root) == "20260101T000000Z-aaaaaa"
    history = root / "HISTORY.jsonl"
    history.write_text(history.read_text() + "\n")
    assert models_cli.main(["--models-dir", str(root), "rollback"]) == 0
    assert promoted_version(root) == "20260201T000000Z-bbbbbb"


def test_training_never_replaces_a_models_root_or_its_served_version(root, capsys):
    from classifier.train import main as train_main
    from conftest import LABELLED

    promote(root, "20260101T000000Z-aaaaaa")
    before = sorted(path.name for path in root.iterdir())
    for out, problem in ((root, "is not a model directory"), (root / "20260101T000000Z-aaaaaa", "is the version")):
        assert train_main(["--data", str(LABELLED), "--out", str(out)]) == 2  # --out where --models-dir was meant
        assert problem in capsys.readouterr().err
    assert sorted(path.name for path in root.iterdir()) == before and promoted_version(root) == "20260101T000000Z-aaaaaa"


def test_a_promotion_brings_the_registry_edits_it_was_trained_for(root, tmp_path):
    from classifier.registry import REGISTRY_DIR
    from classifier.serve import create_app
    from test_operators import add_operator, add_prediction

    registry = tmp_path / "registry"
    shutil.copytree(REGISTRY_DIR, registry)
    promote(root, "20260101T000000Z-aaaaaa")
    app = create_app({"LAKSA_MODEL_DIR": str(root), "LAKSA_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
                      "LAKSA_REGISTRY_DIR": str(registry), "LAKSA_MODEL_POLL_SECONDS": "0"})
    budi, prediction_id = add_operator(app, "budi"), add_prediction(app)
    with open(registry / "opds.csv", "a", encoding="utf-8") as opds:  # a new OPD, and a model trained with it
        opds.write("DSDA,Dinas Sumber Daya Air,tanggul dan banjir rob\n")
    promote(root, "20260201T000000Z-bbbbbb")
    holder = app.extensions["laksa_models"]
    holder.current()
    holder._loading.join(timeout=60)
    answer = app.test_client().post(f"/predictions/{prediction_id}/override", headers=budi,
                                    json={"opd": "DSDA", "reason": "tanggul jebol"})
    assert answer.status_code == 201, answer.json


def test_the_gate_reads_an_evaluation_file_as_evaluate_does(root, tmp_path, capsys):
    from conftest import write_csv

    promote(root, "20260101T000000Z-aaaaaa")
    header = "id,text,category,opd,created_at"
    partial = write_csv(tmp_path / "partial.csv", header, ["1,lampu jalan mati,pju_mati,DISHUB,2024-01-01",
                                                           "2,sampah menumpuk di pasar,sampah,,2024-01-02"])
    assert models_cli.main(["--models-dir", str(root), "promote", "20260201T000000Z-bbbbbb",
                            "--eval-data", str(partial)]) == 0
    assert "(1 rows)" in capsys.readouterr().out  # compared on the row with an OPD
    no_opd = write_csv(tmp_path / "no_opd.csv", header, ["1,lampu jalan mati,pju_mati,,2024-01-01"])
    assert models_cli.main(["--models-dir", str(root), "promote", "20260101T000000Z-aaaaaa",
                            "--eval-data", str(no_opd)]) == 2
    assert "no row has an OPD" in capsys.readouterr().err
