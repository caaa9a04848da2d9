from classifier.text import (EMAIL_TOKEN, NIK_TOKEN, NUMBER_TOKEN, PHONE_TOKEN, URL_TOKEN, TextConfig,
                             TextNormalizer, mask_personal, mask_personal_values)
import pickle

import pytest


@pytest.fixture(scope="module")
def normalizer():
    return TextNormalizer()


@pytest.mark.parametrize("raw, token", [
    ("hubungi 0812-3456-7890 ya", PHONE_TOKEN),
    ("wa +62 857 1122 3344", PHONE_TOKEN),
    ("telp 6281234567890", PHONE_TOKEN),
    ("NIK 3671012304560001 blm keluar", NIK_TOKEN),
    # Written in groups, as people do: once stored as sent.
    ("nik 3578 0123 4567 0001 sudah", NIK_TOKEN),
    ("KK 3578.0123.4567.0001", NIK_TOKEN),
    ("kantor (021) 5555-1234", PHONE_TOKEN),
    ("telp 021 5555 1234", PHONE_TOKEN),
    ("telp +6221 5555 1234", PHONE_TOKEN),
    ("wa +62 (812) 3456 7890", PHONE_TOKEN),
    ("transfer ke rek BNI 0123 4567 89", NUMBER_TOKEN),
    ("no pelanggan 123456789", NUMBER_TOKEN),
    ("email warga.baik@gmail.com", EMAIL_TOKEN),
    ("email budi77(at)gmail(dot)com", EMAIL_TOKEN),
    ("kirim ke budi77 [AT] gmail.com", EMAIL_TOKEN),
    ("lihat https://tangerangkota.go.id/laksa?id=3", URL_TOKEN),
    ("buka WWW.TANGERANGKOTA.GO.ID/laksa/77 ya", URL_TOKEN),  # case does not hide an address
    ("link Https://Laksa.Tangerangkota.Go.Id/?id=9", URL_TOKEN),
    ("toko Jualan88.Com", URL_TOKEN),
    # Other ways people write them: brackets round the country code, "(0)", en dashes, slashes,
    # spaced dashes, two spaces; an NPWP; a spaced or full-width "@".
    ("wa (+62) 812-3456-7890", PHONE_TOKEN),
    ("hp +62 (0)857 1122 3344", PHONE_TOKEN),
    ("hub 0812\u20133456\u20137890", PHONE_TOKEN),
    ("telp 0812/3456/7890", PHONE_TOKEN),
    ("no hp 0812  3456  7890", PHONE_TOKEN),
    ("hp 0812 - 3456 - 7890", PHONE_TOKEN),
    ("kantor 021 \u2013 5555 \u2013 1234", PHONE_TOKEN),
    ("nik 3671 - 0123 - 4567 - 0001", NIK_TOKEN),
    ("nik 3671\u20130123\u20134567\u20130001", NIK_TOKEN),
    ("NIK 3671/0123/4567/0001", NIK_TOKEN),
    ("npwp 12.345.678.9-012.345", NUMBER_TOKEN),
    ("NOP 35.78.140.006.015-0323.0 atas nama", NUMBER_TOKEN),
    ("nop 35 78 140 006 015 03230", NUMBER_TOKEN),
    ("email budi @ gmail.com", EMAIL_TOKEN),
    ("email budi\uff20gmail.com", EMAIL_TOKEN),
])
def test_personal_numbers_and_addresses_are_masked(raw, token):
    masked = mask_personal(raw)
    assert token in masked
    assert not any(ch.isdigit() for ch in masked.replace(token, ""))  # nothing of the number is left


@pytest.mark.parametrize("raw", ["hubungi nol delapan satu dua tiga empat lima enam tujuh delapan ya",
                                 "WA Kosong Delapan Lima Tujuh, satu satu dua dua, tiga tiga empat empat"])
def test_numbers_read_out_digit_by_digit_are_masked(raw):
    masked = mask_personal(raw)
    assert NUMBER_TOKEN in masked
    assert not any(word in masked.lower().split() for word in ("delapan", "tujuh", "enam"))


@pytest.mark.parametrize("raw", ["sudah dua tiga hari lampu mati", "rumah nomor satu sampai lima kebanjiran",
                                 "satu dua tiga empat lima enam tujuh orang sakit",  # seven: a count, not an id
                                 "PJU padam di gang 1, 2, 3, 4, 5, 6, 7, 8 dan 9"])
def test_counts_in_words_are_kept(raw):
    assert mask_personal(raw) == raw


def test_short_numbers_such_as_rt_rw_and_house_numbers_are_kept():
    assert mask_personal("RT 03 RW 05 no. 12") == "RT 03 RW 05 no. 12"


@pytest.mark.parametrize("raw", ["sejak 22-11-2026 jam 08.30 lampu mati", "tanggal 2026-11-22 14:30",
                                 "jam 07.00-09.00 macet", "tahun 2022 2023 rusak", "kode pos 15111",
                                 "dari 01/02/2023 - 05/02/2023 mati", "tgl 22\u201311\u20132026",
                                 "jam 07.00 \u2013 09.00", "periode 2020/2021 - 2022/2023", "08 - 12 - 2026",
                                 "sejak 22-11-2026 08.30-10.00 padam", "RT 003 / RW 012 no 45 - 47"])
def test_dates_times_and_years_are_kept(raw):  # operators need them; they name nobody
    assert mask_personal(raw) == raw


def test_metadata_numbers_are_masked_however_the_json_types_them():
    # A JSON encoder may write the phone number as 6281234567890.0; a rating or a flag names nobody.
    metadata = {"hp": 6281234567890.0, "nik": 3671012304560001, "rating": 4.5, "lantai": 2.0, "baru": True}
    assert mask_personal_values(metadata) == {"hp": PHONE_TOKEN, "nik": NIK_TOKEN, "rating": 4.5, "lantai": 2.0,
                                              "baru": True}


def test_metadata_keys_are_masked_and_none_is_lost_when_two_mask_alike():
    metadata = {"081234567890": "pelapor", "0857-1111-2222": "saksi", "hp": 1, "nik 3671012304560001": {"rt": 3}}
    masked = mask_personal_values(metadata)
    assert list(masked.values()) == ["pelapor", "saksi", 1, {"rt": 3}]
    assert list(masked)[:3] == [PHONE_TOKEN, f"{PHONE_TOKEN} (2)", "hp"]
    assert list(masked)[3].split() == ["nik", NIK_TOKEN]


def test_upstream_masks_map_to_the_same_tokens(normalizer):
    assert normalizer.clean("nomor [TELP] atau [EMAIL]") == f"nomor {PHONE_TOKEN} atau {EMAIL_TOKEN}"


def test_slang_abbreviations_are_expanded(normalizer):
    cleaned = normalizer.clean("jln di gg mawar yg rusak gk diperbaiki tdk ada respon")
    for standard in ("jalan", "gang", "yang", "tidak"):
        assert standard in cleaned.split()
    for slang in ("jln", "gg", "yg", "gk", "tdk"):
        assert slang not in cleaned.split()


def test_optional_steps_fold_repeats_reduplication_and_unicode():
    normalizer = TextNormalizer(TextConfig(collapse_repeats=True, reduplication=True, unicode_nfkc=True))
    assert normalizer.clean("tolonggg dong").split()[0] == "tolong"
    assert normalizer.clean("anak-anak dan rumah2") == "anak dan rumah"
    assert normalizer.clean("ＪＡＬＡＮ rusak") == "jalan rusak"  # full-width letters


def test_default_steps_follow_the_ablation(normalizer):
    assert normalizer.config.slang and normalizer.config.stem and normalizer.config.mask_personal
    assert not (normalizer.config.collapse_repeats or normalizer.config.reduplication)


def test_stemming_with_project_overrides(normalizer):
    tokens = normalizer.tokens("perbaikan jalan berlubang di Bekasi oleh relawan")
    assert tokens[0] == "baik" and "lubang" in tokens
    assert "bekasi" in tokens and "relawan" in tokens  # Sastrawi alone gives bekas / rawan


def test_each_step_can_be_switched_off():
    raw = "Jln rusakkk 08123456789"
    plain = TextNormalizer(TextConfig(slang=False, stem=False, mask_personal=False, collapse_repeats=False,
                                      drop_numbers=False))
    assert plain.tokens(raw) == ["jln", "rusakkk", "08123456789"]


def test_stem_cache_is_bounded_and_survives_pickling():
    normalizer = TextNormalizer(TextConfig(stem_cache_size=50))
    for i in range(200):
        normalizer.stem(f"kata{i}")
    assert normalizer._cached_stem.cache_info().currsize == 50
    restored = pickle.loads(pickle.dumps(normalizer))
    assert restored.tokens("perbaikan") == ["baik"]
