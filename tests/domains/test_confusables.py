"""Mixed-script domain labels, after UTS #39: found, so the admin can warn."""

import pytest

from domains.addresses import normalize_domain
from domains.confusables import label_scripts, mixed_script_labels

CYRILLIC_A = "\u0430"
GREEK_OMICRON = "\u03bf"


@pytest.mark.parametrize(
    ("name", "labels"),
    [
        (f"ex{CYRILLIC_A}mple.test", [(f"ex{CYRILLIC_A}mple", {"Latin", "Cyrillic"})]),
        (
            f"g{GREEK_OMICRON}{GREEK_OMICRON}gle.com",
            [("g\u03bf\u03bfgle", {"Latin", "Greek"})],
        ),
        (
            f"mail.p{CYRILLIC_A}ypal.example",
            [(f"p{CYRILLIC_A}ypal", {"Latin", "Cyrillic"})],
        ),
        # Stored form: the same label, found after decoding.
        (
            normalize_domain(f"ex{CYRILLIC_A}mple.test"),
            [(f"ex{CYRILLIC_A}mple", {"Latin", "Cyrillic"})],
        ),
        # Cyrillic and Greek in one label.
        (
            "\u043f\u03c1\u0438\u043c\u0435\u0440.test",
            [("\u043f\u03c1\u0438\u043c\u0435\u0440", {"Cyrillic", "Greek"})],
        ),
    ],
)
def test_it_finds_labels_that_mix_scripts(name, labels):
    found = [(label, set(scripts)) for label, scripts in mixed_script_labels(name)]

    assert found == labels


@pytest.mark.parametrize(
    "name",
    [
        "example.test",
        "mail-01.example.test",
        "münchen.de",
        "straße.de",
        # One script per label; the labels may differ.
        "пример.рф",
        "пример.example",
        "ελλάδα.gr",
        "مثال.إختبار",
        "उदाहरण.परीक्षा",
        # The combinations UTS #39 allows as highly restrictive.
        "日本語ひらがなカタカナ.jp",
        "ソニーsony.jp",
        "中文bopomofoㄅㄆ.tw",
        "한국어korean.kr",
        # Digits and hyphens belong to no script.
        "пример-2024.рф",
    ],
)
def test_it_accepts_single_script_and_cjk_labels(name):
    assert mixed_script_labels(normalize_domain(name)) == []


def test_it_names_the_scripts_of_a_label():
    assert label_scripts("ソニーsony") == {"Katakana", "Latin"}
    assert label_scripts("abc-123") == {"Latin"}
    assert label_scripts("123") == set()


def test_it_reads_a_name_it_cannot_decode_as_it_is():
    assert mixed_script_labels("xn--zz.test") == []
