"""The data team's command lines, run as they would be: train, evaluate, predict."""
import copy
import inspect
import json

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from classifier import evaluate, predict, train
from classifier.model import RoutingModel
from classifier.models_store import CARD_FILE, MODEL_FILE, load_model
from conftest import LABELLED, write_csv
from test_registry import FISH_TEXTS

HEADER = "id,text,category,opd,created_at"


def shipped_subset(per_opd: int = 25) -> pd.DataFrame:
    frame = pd.concat(pd.read_csv(p, dtype=str) for p in sorted(LABELLED.glob("*.csv")))
    return frame.groupby("opd").head(per_opd).copy()


def small_csv(path, categories: list[str], opds: list[str]):
    """Twelve dated complaints labelled in turn with `categories` and `opds`."""
    return write_csv(path, HEADER, [f"{i},jalan di gang {'abcdefghijkl'[i]} rusak dan lampu mati,"
                                    f"{categories[i % len(categories)]},{opds[i % len(opds)]},2024-01-{i + 1:02d}"
                                    for i in range(12)])


def test_training_writes_model_card_and_report(trained_model_dir):
    card = json.loads((trained_model_dir / CARD_FILE).read_text())
    assert (trained_model_dir / MODEL_FILE).is_file()
    for plot in ("confusion_opd.png", "confusion_category.png", "reliability.png", "coverage_precision.png"):
        assert (trained_model_dir / "report" / plot).stat().st_size > 1000
    assert "precision" in (trained_model_dir / "report" / "report.txt").read_text()
    assert len(card["data"]["sha256"]) == 64 and card["data"]["split"] == "time"
    assert card["libraries"]["scikit-learn"] and card["artefact"]["sha256"]
    assert 0 < card["thresholds"]["opd"] <= 1
    assert set(card["labels"]["opd"]) >= {"DPUPR", "DISHUB", "DAMKAR"}
    assert card["validation"]["opd"]["accuracy"] > 0.8  # the shipped data is learnable
    # The card records the constructor's parameters, not state derived for serving.
    assert set(card["params"]) == set(inspect.signature(RoutingModel).parameters) - {"lexicon_dir"}


def test_predictions_carry_everything_a_route_needs(trained_model):
    model, _ = trained_model
    [snake, road] = model.predict(["ada ular kobra masuk ke dapur rumah warga tolong segera",
                                   "jalan di perumnas karawaci rusak parah banyak lubang bahaya buat motor"])
    assert snake.opd.label == "DAMKAR" and road.opd.label == "DPUPR"
    assert road.opd.name == "Dinas Pekerjaan Umum dan Penataan Ruang"
    assert len(road.opd.alternatives) == 3 and len(road.category.alternatives) == 3
    assert road.opd.confidence >= max(a["confidence"] for a in road.opd.alternatives)
    assert any(term.startswith(("jalan", "lubang", "rusak")) for term in road.reasons)
    assert isinstance(road.needs_review, bool)


def test_needs_review_follows_the_stored_threshold(trained_model):
    model, card = trained_model
    texts = ["tolong", "sampah menumpuk di TPS pasar anyar sudah seminggu tidak diangkut truk DLH"]
    predictions = model.predict(texts)
    for prediction, confidence in zip(predictions, model.predict_proba(texts)["opd"].max(axis=1)):
        assert prediction.needs_review == (confidence < card["thresholds"]["opd"])
    assert predictions[0].needs_review  # one vague word cannot be routed automatically


def test_a_confidence_exactly_at_the_threshold_is_routed_automatically(trained_model):
    # Thresholds are isotonic plateau values such as 6/7; evaluation and the promotion gate count a
    # row at the threshold as auto-routed, so the service must not send it to review.
    model, _ = trained_model
    # Enough texts that one confidence surely rounds down (ten hand-picked ones stopped doing so when the data grew).
    texts = shipped_subset(per_opd=5)["text"].tolist()
    confidence = model.predict_proba(texts)["opd"].max(axis=1)
    at = next(float(c) for c in confidence if round(c, 4) < c)  # shown rounded down, below the threshold
    model = copy.copy(model)
    model.thresholds_ = {**model.thresholds_, "opd": at}
    for prediction, c in zip(model.predict(texts), confidence):
        assert prediction.needs_review == (c < at)
        if c == at:
            assert prediction.opd.confidence < at and not prediction.needs_review


def test_evaluate_prints_one_json_object(trained_model_dir, tmp_path, capsys):
    path = write_csv(tmp_path / "eval.csv", HEADER, [
        "1,lampu pju di jalan daan mogot mati semua,pju_mati,DISHUB,2025-01-01",
        "2,ada sarang tawon besar di pohon depan rumah,evakuasi_hewan,DAMKAR,2025-01-02",
        "3,ktp saya belum jadi sudah 3 bulan,ktp_el,DINAS_BARU,2025-01-03"])
    assert evaluate.main(["--model", str(trained_model_dir), "--data", str(path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n"] == 3
    for head in ("opd", "category"):
        assert set(result[head]) >= {"accuracy", "macro_f1", "weighted_f1", "top3_accuracy", "ece",
                                     "auto_route_coverage", "auto_route_precision"}
    assert result["opd"]["accuracy"] <= 2 / 3  # an OPD the model never saw counts as an error


def test_evaluate_reports_null_for_an_empty_head(trained_model_dir, tmp_path, capsys):
    path = write_csv(tmp_path / "opd_only.csv", HEADER, ["1,lampu jalan mati,,DISHUB,"])
    assert evaluate.main(["--model", str(trained_model_dir), "--data", str(path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["category"] is None and result["opd"]["n"] == 1


def test_predict_writes_one_row_per_input(trained_model_dir, tmp_path):
    texts = ["air pdam mati dari kemarin", "ada kebakaran di gudang", "halo", "lampu mati"]
    path = write_csv(tmp_path / "in.csv", "id,text", [f"x{i},{t}" for i, t in enumerate(texts)])
    out = tmp_path / "out.csv"
    assert predict.main(["--model", str(trained_model_dir), "--data", str(path), "--out", str(out)]) == 0
    routed = pd.read_csv(out)
    assert list(routed["id"]) == [f"x{i}" for i in range(4)]
    assert routed.loc[0, "opd"] == "PDAM" and routed.loc[1, "opd"] == "DAMKAR"
    assert all(isinstance(json.loads(reasons), list) for reasons in routed["reasons"])  # phrases stay apart


@pytest.mark.parametrize("rows, header, expected", [
    (["1,jalan rusak,jalan_rusak,2024-01-01"], "id,text,category,created_at", "missing column"),
    (['1,"",jalan_rusak,DPUPR,2024-01-01'], HEADER, "row 2, column 'text'"),
    (["1,jalan rusak,jalan_rusak,PUPR_LAMA,2024-01-01"], HEADER, "'PUPR_LAMA' is not in the registry"),
    ([], HEADER, "no data rows"),
])
def test_bad_training_data_exits_with_a_message_and_writes_nothing(tmp_path, capsys, rows, header, expected):
    path = write_csv(tmp_path / "bad.csv", header, rows)
    out = tmp_path / "model"
    assert train.main(["--data", str(path), "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert expected in error and str(path) in error and "Traceback" not in error
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["bad.csv"]


def test_non_utf8_training_file_is_refused(tmp_path, capsys):
    path = write_csv(tmp_path / "latin.csv", HEADER, ["1,jalan rusak di kampung café,jalan_rusak,DPUPR,2024-01-01"],
                     encoding="cp1252")
    assert train.main(["--data", str(path), "--out", str(tmp_path / "m")]) == 2
    assert "UTF-8" in capsys.readouterr().err


@pytest.mark.parametrize("categories, opds, head", [(["jalan_rusak", "pju_mati"], ["DPUPR"], "opd"),
                                                    (["jalan_rusak"], ["DPUPR", "DISHUB"], "category")])
def test_data_with_one_label_names_the_head_that_cannot_learn(tmp_path, capsys, categories, opds, head):
    path = small_csv(tmp_path / "one.csv", categories, opds)
    assert train.main(["--data", str(path), "--out", str(tmp_path / "m")]) == 2
    error = capsys.readouterr().err
    assert f"the {head} head has fewer than 2 labels to learn" in error and "Traceback" not in error


@pytest.mark.parametrize("fraction", ["0", "1", "1.5"])
def test_valid_fraction_outside_0_and_1_is_a_usage_error(tmp_path, capsys, fraction):
    path = small_csv(tmp_path / "data.csv", ["jalan_rusak", "pju_mati"], ["DPUPR", "DISHUB"])
    with pytest.raises(SystemExit) as exit:
        train.main(["--data", str(path), "--out", str(tmp_path / "m"), "--valid-fraction", fraction])
    assert exit.value.code == 2 and "--valid-fraction" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("config, expected", [("{", "not a readable JSON file"),
                                              ('{"C_op": 0.3}', "unknown parameter(s) C_op"),
                                              ('{"text_config": {"stemming": true}}', "text_config.stemming")])
def test_a_bad_config_file_is_named_with_its_problem(tmp_path, capsys, config, expected):
    path = small_csv(tmp_path / "data.csv", ["jalan_rusak", "pju_mati"], ["DPUPR", "DISHUB"])
    (tmp_path / "params.json").write_text(config)
    assert train.main(["--data", str(path), "--out", str(tmp_path / "m"), "--config",
                       str(tmp_path / "params.json")]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"error: file {tmp_path / 'params.json'}: ") and expected in error


def test_corrections_from_a_database_without_the_schema_say_what_to_do(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LAKSA_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    path = small_csv(tmp_path / "data.csv", ["jalan_rusak", "pju_mati"], ["DPUPR", "DISHUB"])
    assert train.main(["--data", str(path), "--out", str(tmp_path / "m"), "--corrections"]) == 2
    error = capsys.readouterr().err
    assert "no such table" in error and "db-upgrade" in error and "Traceback" not in error


def test_rare_labels_are_counted_on_every_row_the_model_learns_from(tmp_path):
    """The refit learns from the validation rows too: rarity is counted there, and the report keeps
    the labels the validation probabilities were computed with when the refit learns new ones."""
    archive_texts = ["mohon salinan arsip akta tanah tahun 1985 di kantor arsip kota",
                     "arsip dokumen kelurahan lama hilang, minta bantuan dinas kearsipan",
                     "layanan peminjaman arsip statis kota tutup terus padahal jam kerja",
                     "kami butuh arsip foto lama kota untuk pameran sejarah kampung"]
    new = pd.DataFrame({  # DKP: 2 old and 8 new rows; ARSIP: 4 new rows only; SEKALI: 1 new row
        "id": [f"new-{i}" for i in range(15)],
        "text": FISH_TEXTS[:10] + archive_texts + ["tolong tambah jam buka perpustakaan kota sampai malam"],
        "category": ["perikanan"] * 10 + ["kearsipan"] * 4 + ["perpustakaan"],
        "opd": ["DKP"] * 10 + ["ARSIP"] * 4 + ["SEKALI"],
        "created_at": ["2020-01-01T00:00:00", "2020-01-02T00:00:00"] + [f"2030-01-{d:02d}T00:00:00" for d in range(1, 14)]})
    data = tmp_path / "data.csv"
    pd.concat([shipped_subset(), new]).to_csv(data, index=False)
    assert train.main(["--data", str(data), "--out", str(tmp_path / "m"), "--no-registry"]) == 0
    card = json.loads((tmp_path / "m" / CARD_FILE).read_text())
    assert {"DKP", "ARSIP"} <= set(card["labels"]["opd"]) and "SEKALI" not in card["labels"]["opd"]
    assert card["rare_labels_not_learned"]["opd"] == ["SEKALI"]
    report = (tmp_path / "m" / "report" / "report.txt").read_text().split("== opd")[1]
    [accuracy] = [float(line.split()[1]) for line in report.splitlines() if line.strip().startswith("accuracy")]
    assert accuracy == pytest.approx(card["validation"]["opd"]["accuracy"], abs=0.005)


def test_rare_labels_warn_and_training_is_reproducible(tmp_path, capsys):
    subset = shipped_subset()
    subset.iloc[0, subset.columns.get_loc("category")] = "pkl_liar"  # one row of a label, as in real data
    subset.iloc[0, subset.columns.get_loc("opd")] = "SATPOLPP"
    data = tmp_path / "subset.csv"
    subset.to_csv(data, index=False)
    runs = []
    for name in ("a", "b"):
        assert train.main(["--data", str(data), "--out", str(tmp_path / name), "--seed", "7"]) == 0
        model, _ = load_model(tmp_path / name)
        runs.append(model.predict_proba(["lampu jalan mati", "banjir setinggi lutut"])["opd"])
    assert "warning:" in capsys.readouterr().err
    # Same data and seed, same model: only BLAS summation order may differ in the last digits.
    assert np.allclose(runs[0], runs[1], rtol=1e-5, atol=1e-7)


def test_serving_features_equal_scikit_learns(trained_model):
    """The fast encoding and scoring used for prediction compute what the fitted vectorizers and SVMs would."""
    model, _ = trained_model
    texts = ["Lampu PJU mati!!! di Jl. Daan Mogot", "", "sampah sampah sampah numpuk", "ktp blm jadi 3 bln"]
    cleaned = [model.features_.normalizer.clean(t) for t in texts]
    words = model.features_.word.transform(cleaned)
    chars = model.features_.char.transform(cleaned)
    for (word_terms, char_terms), word_row, char_row in zip(model.features_.encode(texts), words, chars):
        assert np.array_equal(word_terms.columns, word_row.indices[np.argsort(word_row.indices)])
        assert np.allclose(word_terms.values, word_row.toarray()[0, word_terms.columns], atol=1e-6)
        assert np.allclose(char_terms.values, char_row.toarray()[0, char_terms.columns], atol=1e-6)
        assert char_terms.columns.size == char_row.nnz
    category_margins, opd_margins, _ = model._margins(texts)
    assert np.allclose(category_margins, model.heads_["category"].decision_function(words), atol=1e-5)
    assert np.allclose(opd_margins, model.heads_["opd"].decision_function(sp.hstack([words, chars])), atol=1e-5)


def test_vague_texts_get_a_low_but_meaningful_confidence(trained_model):
    model, _ = trained_model
    [vague] = model.predict(["saya mau tanya prosedurnya gimana ya"])
    n_opds = len(model.classes_["opd"])
    assert vague.needs_review and 1 / n_opds <= vague.opd.confidence < 0.9
    assert all(a["confidence"] <= vague.opd.confidence for a in vague.opd.alternatives)
    assert vague.opd.alternatives[0]["confidence"] > 0.001  # the alternatives still tell operators something


def test_calibration_below_the_validated_confidences_falls_towards_a_guess():
    from classifier.calibration import fit_isotonic

    # Validation without errors, all of it confident: below its least confident row the map stayed
    # at certainty, so any text the model was unsure of came out certain and auto-routed.
    calibrator = fit_isotonic(np.array([0.9, 0.95, 0.99]), np.array([True, True, True]), n_classes=20)
    guess, unsure, sure = calibrator.predict([0.05, 0.5, 0.95])
    assert guess == pytest.approx(0.05) and unsure < 0.6 and sure == 1.0
