import pandas as pd
import pytest

from classifier.dataset import drop_duplicates, load_labelled, near_duplicates, split
from classifier.errors import DataError
from classifier.registry import load_registry
from conftest import LABELLED, write_csv

HEADER = "id,text,category,opd,created_at"


def test_missing_column_names_file_and_columns(tmp_path):
    path = write_csv(tmp_path / "a.csv", "id,text,category,created_at", ["1,jalan rusak,jalan_rusak,2024-01-01"])
    with pytest.raises(DataError) as error:
        load_labelled(path)
    assert str(path) in str(error.value) and "opd" in str(error.value) and "row 1" in str(error.value)


def test_non_utf8_file_names_the_row(tmp_path):
    path = write_csv(tmp_path / "latin.csv", HEADER, ["1,jalan rusak,jalan_rusak,DPUPR,2024-01-01",
                                                       "2,lampu mati di gang café,pju_mati,DISHUB,2024-01-02"],
                     encoding="latin-1")
    with pytest.raises(DataError, match="row 3.*UTF-8|UTF-8") as error:
        load_labelled(path)
    assert "row 3" in str(error.value)


def test_empty_text_names_row_and_column(tmp_path):
    path = write_csv(tmp_path / "e.csv", HEADER, ["1,jalan rusak,jalan_rusak,DPUPR,2024-01-01",
                                                   '2,"  ",pju_mati,DISHUB,2024-01-02'])
    with pytest.raises(DataError) as error:
        load_labelled(path)
    assert "row 3" in str(error.value) and "'text'" in str(error.value)


def test_unknown_opd_code_is_refused_with_registry(tmp_path):
    path = write_csv(tmp_path / "u.csv", HEADER, ["1,jalan rusak,jalan_rusak,DPUPR,2024-01-01",
                                                   "2,ada ular,evakuasi_hewan,PEMADAM,2024-01-02"])
    with pytest.raises(DataError) as error:
        load_labelled(path, registry=load_registry())
    assert "'PEMADAM'" in str(error.value) and "row 3" in str(error.value) and "'opd'" in str(error.value)
    assert len(load_labelled(path)) == 2  # without a registry (another city's data) any label is accepted


def test_an_unquoted_line_break_inside_a_field_names_the_row(tmp_path):
    path = tmp_path / "cr.csv"
    path.write_text(f"{HEADER}\n1,jalan rusak,jalan_rusak,DPUPR,2024-01-01\n2,lampu\rmati,pju_mati,DISHUB,2024-01-02\n",
                    encoding="utf-8", newline="")
    with pytest.raises(DataError, match="row 3.*line break|line break") as error:
        load_labelled(path)
    assert "row 3" in str(error.value)


def test_an_empty_file_and_a_repeated_column_name_are_named(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(DataError, match="empty file") as error:
        load_labelled(empty)
    assert str(empty) in str(error.value)
    # Two "text" columns: which one is the complaint? (pandas read the first and renamed the second)
    twice = write_csv(tmp_path / "twice.csv", "id,text,category,opd,text", ["1,jalan rusak,jalan_rusak,DPUPR,x"])
    with pytest.raises(DataError, match="text appear more than once") as error:
        load_labelled(twice)
    assert "row 1" in str(error.value)


def test_bad_date_is_refused(tmp_path):
    path = write_csv(tmp_path / "d.csv", HEADER, ["1,jalan rusak,jalan_rusak,DPUPR,kemarin"])
    with pytest.raises(DataError, match="row 2.*created_at"):
        load_labelled(path)


def test_dates_must_be_iso_8601(tmp_path):
    # "05/07/2024" was read as May 7 while "13/07/2024" in the same column became July 13.
    path = write_csv(tmp_path / "d.csv", HEADER, ["1,jalan rusak,jalan_rusak,DPUPR,2024-07-05T08:30:00Z",
                                                   "2,lampu mati,pju_mati,DISHUB,05/07/2024"])
    with pytest.raises(DataError) as error:
        load_labelled(path)
    message = str(error.value)
    assert str(path) in message and "row 3, column 'created_at'" in message and "2024-07-05" in message
    iso = write_csv(tmp_path / "iso.csv", HEADER, ["1,jalan rusak,jalan_rusak,DPUPR,2024-07-05",
                                                   "2,lampu mati,pju_mati,DISHUB,2024-07-05T08:30:00",
                                                   "3,sampah numpuk,sampah,DLH,2024-07-05T08:30:00+07:00"])
    assert [str(t.date()) for t in load_labelled(iso)["created_at"]] == ["2024-07-05"] * 3


@pytest.mark.parametrize("rows, row", [
    # A comma ending every row: pandas took the first field as the index and shifted every column.
    (["1,jalan rusak,jalan_rusak,DPUPR,2024-01-01,", "2,lampu mati,pju_mati,DISHUB,2024-01-02,"], 2),
    # A short row was padded with empty values; rows are counted as records, like our other errors.
    (['1,"jalan rusak\nparah",jalan_rusak,DPUPR,2024-01-01', "2,lampu mati,pju_mati"], 3),
])
def test_a_row_whose_field_count_differs_from_the_header_is_refused(tmp_path, rows, row):
    path = write_csv(tmp_path / "f.csv", HEADER, rows)
    with pytest.raises(DataError) as error:
        load_labelled(path)
    assert f"file {path}, row {row}: " in str(error.value) and "the header has 5" in str(error.value)


def test_a_semicolon_separated_file_is_named_as_such(tmp_path):
    path = write_csv(tmp_path / "excel.csv", HEADER.replace(",", ";"), ["1;jalan rusak;jalan_rusak;DPUPR;2024-01-01"])
    with pytest.raises(DataError, match=f"file {path}, row 1: the header is separated by ';'"):
        load_labelled(path)


def test_a_file_with_only_a_header_is_refused_unless_its_folder_has_rows(tmp_path, capsys):
    path = write_csv(tmp_path / "h.csv", HEADER, [])
    with pytest.raises(DataError, match="no data rows") as error:
        load_labelled(path)
    assert str(path) in str(error.value)
    # An export of no corrections beside the labelled data: a warning, not a stop.
    write_csv(tmp_path / "labelled.csv", HEADER, ["1,jalan rusak parah,jalan_rusak,DPUPR,2024-01-01"])
    assert load_labelled(tmp_path)["text"].tolist() == ["jalan rusak parah"]
    assert f"file {path}: no data rows" in capsys.readouterr().err


def test_mapped_column_names_and_folder_loading(tmp_path):
    write_csv(tmp_path / "1.csv", "no,isi,topik,dinas,tanggal", ["a,jalan rusak parah,jalan_rusak,DPUPR,2024-01-01"])
    write_csv(tmp_path / "2.csv", "no,isi,topik,dinas,tanggal", ["b,lampu jalan mati,pju_mati,DISHUB,2024-02-01"])
    frame = load_labelled(tmp_path, {"id": "no", "text": "isi", "category": "topik", "opd": "dinas",
                                     "created_at": "tanggal"})
    assert list(frame["id"]) == ["a", "b"] and list(frame["opd"]) == ["DPUPR", "DISHUB"]


def test_duplicates_keep_the_latest_label(tmp_path):
    path = write_csv(tmp_path / "dup.csv", HEADER, ["1,Lampu jalan mati,pju_mati,DPUPR,2024-01-01",
                                                     "2,lampu  jalan MATI,pju_mati,DISHUB,2024-03-01",
                                                     "3,sampah numpuk,sampah,DLH,2024-02-01"])
    kept, removed = drop_duplicates(load_labelled(path))
    assert removed == 1 and list(kept["opd"]) == ["DISHUB", "DLH"]


def test_a_newer_opd_only_row_keeps_the_older_category(tmp_path):
    # A city's archive (OPD only) sends a text we labelled before elsewhere: its newer OPD wins, the
    # text keeps its category, and the category head still learns from it.
    path = write_csv(tmp_path / "dup.csv", HEADER, ["1,Lampu jalan mati,pju_mati,DPUPR,2024-01-01",
                                                     "2,lampu jalan mati,,DISHUB,2024-03-01",
                                                     "3,sampah numpuk,,DLH,2024-02-01"])
    kept, removed = drop_duplicates(load_labelled(path, require_labels=("opd",)))
    assert removed == 1
    assert kept[["category", "opd"]].values.tolist() == [["pju_mati", "DISHUB"], ["", "DLH"]]


def test_split_holds_out_the_newest_rows():
    frame = pd.DataFrame({"text": list("abcdefghij"), "category": "c",
                          "created_at": pd.date_range("2024-01-01", periods=10)})
    train, valid, kind = split(frame.sample(frac=1, random_state=1), 0.2, seed=0)
    assert kind == "time" and set(valid["text"]) == {"i", "j"} and len(train) == 8


def test_split_holds_out_opd_only_rows_apart():
    # The OPD-only rows are the newest: one time split over all rows would leave the category head
    # no validation row.
    frame = pd.DataFrame({"text": list("abcdefghij"), "category": ["c"] * 5 + [""] * 5,
                          "created_at": pd.date_range("2024-01-01", periods=10)})
    train, valid, kind = split(frame, 0.2, seed=0)
    assert kind == "time" and set(valid["text"]) == {"e", "j"} and len(train) == 8


def test_an_undated_archive_leaves_the_labelled_rows_split_by_time(capsys):
    frame = pd.DataFrame({"text": list("abcdefghij"), "category": ["c"] * 5 + [""] * 5,
                          "created_at": list(pd.date_range("2024-01-01", periods=5, tz="UTC")) + [pd.NaT] * 5})
    train, valid, kind = split(frame, 0.2, seed=0)
    assert kind == "time; OPD-only rows: random" and "e" in set(valid["text"]) and len(valid) == 2
    mixed = frame.assign(category="c")  # one kind, half of it undated: random, with a warning
    assert split(mixed, 0.2, seed=0)[2] == "random" and "5 of 10 rows have no created_at" in capsys.readouterr().err


def test_shipped_data_is_valid_varied_and_has_no_near_duplicates():
    registry = load_registry()
    frame = load_labelled(LABELLED, registry=registry)
    holdout = load_labelled(LABELLED.parent / "evaluation", registry=registry)
    assert len(frame) >= 3000
    assert frame["category"].nunique() >= 25 and frame["opd"].nunique() >= 18
    assert {"DPUPR", "DISHUB", "DLH", "DINSOS", "DISDUKCAPIL", "DINKES", "DINDIK", "SATPOLPP", "DAMKAR", "BPBD",
            "DISPERKIMTAN", "DISNAKER", "DISKOMINFO", "DPMPTSP", "BAPENDA", "PDAM"} <= set(frame["opd"])
    words = frame["text"].str.split().str.len()
    assert words.min() >= 3 and words.max() >= 150 and 25 <= words.median() <= 35
    both = pd.concat([frame, holdout])
    assert both["id"].is_unique
    # No pair of texts, within the training data or across it and the hold-out, is a near-duplicate.
    assert near_duplicates(list(both["text"]), threshold=0.8) == []
