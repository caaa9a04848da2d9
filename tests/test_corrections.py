"""Operators' corrections flow back: exported in the labelled schema, and winning in training."""
import shutil
from datetime import timedelta

import pandas as pd

from classifier import manage
from classifier.corrections import load_corrections
from classifier.dataset import drop_duplicates, load_labelled
from classifier.db import OverrideRecord, PredictionRecord, new_id, utcnow
from classifier.registry import REGISTRY_DIR, load_registry
from classifier.text import mask_personal
from classifier.train import main as train_main
from conftest import write_csv

TEXT = "lampu taman di alun-alun ahmad yani mati semua sudah sebulan"


def add(app, text, actions):
    """A stored prediction routed to DISHUB, then the operators' (action, category, opd) records in order."""
    with app.extensions["laksa_sessions"].begin() as session:
        prediction = PredictionRecord(id=new_id(), created_at=utcnow() - timedelta(hours=2), api_key="k", text=text,
                                      category="pju_mati", category_confidence=0.6, opd="DISHUB", opd_confidence=0.6,
                                      opd_margin=0.2, alternatives={}, reasons=[], needs_review=True, model_version="v")
        session.add(prediction)
        session.flush()
        for minutes, (action, category, opd) in enumerate(actions):
            session.add(OverrideRecord(prediction_id=prediction.id, created_at=utcnow() - timedelta(minutes=60 - minutes),
                                       operator="sari", action=action, category=category, opd=opd,
                                       previous_category="pju_mati", previous_opd="DISHUB", reason=""))
    return prediction.id


def test_effective_label_is_the_latest_record(app, database_url, tmp_path, monkeypatch):
    corrected = add(app, TEXT, [("override", "taman_rth", "DISPERKIMTAN"), ("override", "taman_rth", "DLH")])
    confirmed = add(app, "pju mati\rdi jalan baru", [("confirm", "pju_mati", "DISHUB")])  # a bare CR, as sent
    add(app, "tidak pernah diperiksa", [])
    frame = load_corrections(database_url).set_index("id")
    assert set(frame.index) == {corrected, confirmed}
    assert frame.loc[corrected, ["category", "opd"]].tolist() == ["taman_rth", "DLH"]
    monkeypatch.setenv("LAKSA_DATABASE_URL", database_url)
    out = tmp_path / "corrections.csv"
    assert manage.main(["export-corrections", str(out)]) == 0
    exported = load_labelled(out, registry=load_registry())  # the labelled schema, valid against the registry
    assert len(exported) == 2 and set(exported["opd"]) == {"DLH", "DISHUB"}


def test_the_export_is_safe_in_a_spreadsheet_and_trains_on_the_stored_texts(app, database_url, tmp_path, monkeypatch):
    texts = ['=HYPERLINK("http://x","lampu mati")', "lampu mati;@SUM(A1)", "'-sudah ditulis dengan apostrof"]
    for text in texts:
        add(app, text, [("confirm", "pju_mati", "DISHUB")])
    monkeypatch.setenv("LAKSA_DATABASE_URL", database_url)
    out = tmp_path / "corrections.csv"
    assert manage.main(["export-corrections", str(out)]) == 0
    cells = pd.read_csv(out, dtype=str)["text"].tolist()  # what a spreadsheet is given: no formula starts
    assert cells == ['\'=HYPERLINK("http://x","lampu mati")', "lampu mati;'@SUM(A1)", "''-sudah ditulis dengan apostrof"]
    assert load_labelled(out)["text"].tolist() == texts


def test_a_correction_replaces_the_labelled_row_of_a_text_with_a_phone_number(app, database_url, tmp_path):
    text = "lampu jalan mati depan rumah, hubungi 0812-3456-7890"
    add(app, mask_personal(text), [("override", "taman_rth", "DLH")])  # the service stores texts masked
    shipped = write_csv(tmp_path / "old.csv", "id,text,category,opd,created_at",
                        [f'old-1,"{text}",pju_mati,DISHUB,2024-05-01T10:00:00'])
    kept, removed = drop_duplicates(pd.concat([load_labelled(shipped), load_corrections(database_url)],
                                              ignore_index=True))
    assert removed == 1 and kept["opd"].tolist() == ["DLH"]  # not both labels for one letter


def test_operator_labels_win_over_older_labels_in_training(app, database_url, tmp_path, monkeypatch):
    add(app, TEXT, [("override", "taman_rth", "DLH")])
    shipped = write_csv(tmp_path / "old.csv", "id,text,category,opd,created_at",
                        [f"old-1,{TEXT},pju_mati,DISHUB,2024-05-01T10:00:00"])
    frame = pd.concat([load_labelled(shipped), load_corrections(database_url)], ignore_index=True)
    kept, removed = drop_duplicates(frame)
    assert removed == 1 and kept["opd"].tolist() == ["DLH"]
    monkeypatch.setenv("LAKSA_DATABASE_URL", database_url)
    from conftest import LABELLED
    out = tmp_path / "model"
    assert train_main(["--data", str(LABELLED), "--out", str(out), "--corrections"]) == 0
    import json
    assert json.loads((out / "card.json").read_text())["data"]["operator_corrections"] == 1


def test_codes_the_registry_no_longer_has_are_named_and_a_verified_opd_is_kept(app, database_url, tmp_path,
                                                                             monkeypatch, capsys):
    retired = tmp_path / "registry"
    shutil.copytree(REGISTRY_DIR, retired)
    categories = (retired / "categories.csv").read_text(encoding="utf-8").splitlines()
    (retired / "categories.csv").write_text("\n".join(l for l in categories if not l.startswith("taman_rth,")) + "\n",
                                            encoding="utf-8")
    kept = add(app, TEXT, [("override", "taman_rth", "DLH")])
    add(app, "lampu mati di gang", [("confirm", "pju_mati", "DISHUB")])
    frame = load_corrections(database_url, load_registry(retired)).set_index("id")
    assert frame.loc[kept, ["category", "opd"]].tolist() == ["", "DLH"]  # an OPD-only row for training
    warning = capsys.readouterr().err
    assert "categories not in the registry" in warning and "'taman_rth' (1)" in warning
    assert str(retired) in warning and "kept for their OPD" in warning
    monkeypatch.setenv("LAKSA_DATABASE_URL", database_url)
    monkeypatch.setenv("LAKSA_REGISTRY_DIR", str(retired))  # the export checks against the service's registry
    out = tmp_path / "corrections.csv"
    assert manage.main(["export-corrections", str(out)]) == 0 and "left out" in capsys.readouterr().err
    assert load_labelled(out, registry=load_registry(retired))["category"].tolist() == ["pju_mati"]  # trains as is


def test_a_correction_to_a_retired_category_does_not_bring_back_the_rejected_one(app, database_url, tmp_path):
    retired = tmp_path / "registry"
    shutil.copytree(REGISTRY_DIR, retired)
    categories = (retired / "categories.csv").read_text(encoding="utf-8").splitlines()
    (retired / "categories.csv").write_text("\n".join(l for l in categories if not l.startswith("taman_rth,")) + "\n",
                                            encoding="utf-8")
    add(app, TEXT, [("override", "taman_rth", "DLH")])  # the operator rejected pju_mati
    shipped = write_csv(tmp_path / "old.csv", "id,text,category,opd,created_at",
                        [f"old-1,{TEXT},pju_mati,DISHUB,2024-05-01T10:00:00"])
    frame = pd.concat([load_labelled(shipped), load_corrections(database_url, load_registry(retired))],
                      ignore_index=True)
    kept, _ = drop_duplicates(frame)
    assert kept[["category", "opd"]].values.tolist() == [["", "DLH"]]  # trains the OPD head only
