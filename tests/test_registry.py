"""Routing knowledge is data: new OPDs and categories, or a category moved to another OPD,
take an edit of data files and a retraining, and no code change."""
import shutil

import pandas as pd
import pytest

from classifier.errors import DataError
from classifier.models_store import load_model
from classifier.registry import REGISTRY_DIR, load_registry
from classifier.train import main as train_main
from conftest import LABELLED, write_csv

FISH_TEXTS = [
    "ikan di kolam budidaya warga mati mendadak, minta penyuluh perikanan datang cek air kolam",
    "bibit ikan lele bantuan pemkot kok belum dibagikan ke kelompok pembudidaya kami",
    "mohon pelatihan budidaya ikan nila buat karang taruna, banyak kolam nganggur",
    "pakan ikan mahal banget, kelompok pembudidaya lele minta bantuan pakan dari dinas perikanan",
    "tolong cek penjual ikan di pasar pakai formalin, ikannya keras dan gak dihinggapi lalat",
    "kolam ikan warga tercemar, ikan mas dan nila mati semua, minta dinas perikanan turun",
    "pengajuan bantuan terpal kolam ikan untuk pembudidaya lele belum ada kabar",
    "penyuluh perikanan gak pernah datang lagi ke kelompok budidaya ikan di kampung kami",
    "minta info program bantuan benih ikan gurame buat warga",
    "ada usaha pembenihan ikan hias yang butuh pendampingan dinas perikanan",
    "ikan lele di kolam terpal banyak yang mati kena penyakit, butuh obat ikan",
    "kelompok budidaya ikan minta bantuan pompa air untuk kolam",
]


def shipped_frame():
    return pd.concat(pd.read_csv(p, dtype=str, keep_default_na=False) for p in sorted(LABELLED.glob("*.csv")))


def registry_with_fisheries(tmp_path, category: bool = True):
    """The shipped registry plus a fisheries OPD (DKP) and, with `category`, a category it handles."""
    registry = tmp_path / "registry"
    shutil.copytree(REGISTRY_DIR, registry)
    with open(registry / "opds.csv", "a", encoding="utf-8") as opds:
        opds.write('DKP,Dinas Ketahanan Pangan dan Perikanan,"Budidaya ikan, benih dan pakan ikan, penyuluh perikanan"\n')
    if category:
        with open(registry / "categories.csv", "a", encoding="utf-8") as categories:
            categories.write("perikanan,Budidaya dan Bantuan Perikanan,DKP\n")
    return registry


def test_a_new_opd_and_category_need_only_data(tmp_path):
    registry = registry_with_fisheries(tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    shipped_frame().to_csv(data / "shipped.csv", index=False)
    pd.DataFrame({"id": [f"fish-{i}" for i in range(len(FISH_TEXTS))], "text": FISH_TEXTS,
                  "category": "perikanan", "opd": "DKP",
                  "created_at": [f"2024-0{1 + i % 9}-15T10:00:00" for i in range(len(FISH_TEXTS))]}
                 ).to_csv(data / "fish.csv", index=False)
    out = tmp_path / "model"
    assert train_main(["--data", str(data), "--out", str(out), "--registry", str(registry)]) == 0
    model, card = load_model(out)
    [prediction] = model.predict(["benih ikan lele bantuan dinas perikanan belum sampai ke kelompok budidaya kami"])
    assert prediction.opd.label == "DKP" and prediction.opd.name == "Dinas Ketahanan Pangan dan Perikanan"
    assert prediction.category.label == "perikanan" and "DKP" in card["labels"]["opd"]


def test_an_archive_labelled_only_with_opds_teaches_the_opd_head(tmp_path):
    """A city's archive filed in its own categories: --opd-only reads its OPDs and not its categories."""
    registry = registry_with_fisheries(tmp_path, category=False)
    archive = tmp_path / "archive.csv"
    pd.DataFrame({"text": FISH_TEXTS, "category": "Perikanan & Kelautan", "opd": "DKP",
                  "created_at": [f"2024-0{1 + i % 9}-15T10:00:00" for i in range(len(FISH_TEXTS))]}
                 ).to_csv(archive, index=False)
    out = tmp_path / "model"
    assert train_main(["--data", str(LABELLED), "--opd-only", str(archive), "--out", str(out),
                       "--registry", str(registry)]) == 0
    model, card = load_model(out)
    [prediction] = model.predict(["benih ikan lele bantuan dinas perikanan belum sampai ke kelompok budidaya kami"])
    assert prediction.opd.label == "DKP"
    assert prediction.category.label in card["labels"]["category"] and "" not in card["labels"]["category"]
    assert card["data"]["opd_only_rows"] == len(FISH_TEXTS)
    # The archive's newest 15% (2 rows) are held out too, and judge only the OPD head.
    assert card["validation"]["opd"]["n"] == card["validation"]["category"]["n"] + 2


def test_opd_only_rows_need_a_registered_opd(tmp_path, capsys):
    archive = write_csv(tmp_path / "archive.csv", "text,opd", ["lampu jalan mati,DISHUB", "ikan mati,DINAS_IKAN"])
    out = tmp_path / "model"
    assert train_main(["--data", str(LABELLED), "--opd-only", str(archive), "--out", str(out)]) == 2
    assert "archive.csv, row 3, column 'opd': opd 'DINAS_IKAN' is not in the registry" in capsys.readouterr().err
    assert not out.exists()


def test_moving_a_category_to_another_opd(tmp_path):
    registry = tmp_path / "registry"
    shutil.copytree(REGISTRY_DIR, registry)
    categories = pd.read_csv(registry / "categories.csv", dtype=str)
    categories.loc[categories["code"] == "pju_mati", "usual_opd"] = "DISPERKIMTAN"  # a new city policy
    categories.to_csv(registry / "categories.csv", index=False)
    frame = shipped_frame()
    frame.loc[frame["category"] == "pju_mati", "opd"] = "DISPERKIMTAN"  # its rows follow the table
    frame.to_csv(tmp_path / "moved.csv", index=False)
    out = tmp_path / "model"
    assert train_main(["--data", str(tmp_path / "moved.csv"), "--out", str(out), "--registry", str(registry)]) == 0
    model, _ = load_model(out)
    [prediction] = model.predict(["lampu pju di jalan raya mati total sudah seminggu gelap"])
    assert prediction.opd.label == "DISPERKIMTAN" and load_registry(registry).categories["pju_mati"].usual_opd == \
        "DISPERKIMTAN"


def test_registry_errors_name_file_row_and_column(tmp_path):
    registry = tmp_path / "registry"
    shutil.copytree(REGISTRY_DIR, registry)
    with open(registry / "categories.csv", "a", encoding="utf-8") as categories:
        categories.write("parkir_baru,Parkir Baru,DINAS_TIDAK_ADA\n")
    with pytest.raises(DataError, match=r"categories.csv, row \d+, column 'usual_opd'"):
        load_registry(registry)


def test_a_registry_saved_with_a_byte_order_mark_is_read(tmp_path):
    registry = tmp_path / "registry"
    shutil.copytree(REGISTRY_DIR, registry)
    for name in ("opds.csv", "categories.csv"):  # as spreadsheet programs save "CSV UTF-8"
        (registry / name).write_bytes(b"\xef\xbb\xbf" + (registry / name).read_bytes())
    assert load_registry(registry) == load_registry()
