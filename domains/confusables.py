"""Domain labels that mix scripts, after Unicode's UTS #39, for a warning.

``exаmple.test`` with a Cyrillic "а" reads as example.test and is another
domain (a homograph). UTS #39 (section 5.2, restriction levels) calls a
string *highly restrictive* when its letters all come from one script, or
from one of the combinations Japanese, Chinese and Korean writing use with
Latin; browsers show such IDN labels in Unicode and others in punycode. The
admin warns about any other label and still saves it: real names do mix
scripts now and then (a Latin brand inside a Cyrillic name).

Python's ``unicodedata`` has no Script property, so a letter's script is the
first word of its Unicode name ("CYRILLIC SMALL LETTER A"), which Unicode
gives the letters of every script a domain can use; "CJK ..." and
"IDEOGRAPHIC ..." are Han. Only letters count: digits, the hyphen,
combining marks and the Japanese length mark belong to every script
(Common or Inherited in Unicode's Scripts.txt).

Not covered: a label written wholly in one script that looks like a word in
another (all-Cyrillic "аррlе" is mixed, but "рое" is not), which needs
Unicode's confusables table.
"""

import unicodedata

from domains.addresses import display_domain

# UTS #39, 5.2: the sets a highly restrictive string may draw from, besides
# any single script.
_HIGHLY_RESTRICTIVE = (
    frozenset({"Latin", "Han", "Hiragana", "Katakana"}),
    frozenset({"Latin", "Han", "Bopomofo"}),
    frozenset({"Latin", "Han", "Hangul"}),
)
# First words of letter names that are not a script's own name.
_NAME_SCRIPTS = {"CJK": "Han", "IDEOGRAPHIC": "Han"}
# Letters of no one script: the prolonged sound mark "ー", modifier letters.
_NO_SCRIPT = {"KATAKANA-HIRAGANA", "MODIFIER", "HALFWIDTH", "FULLWIDTH"}


def _script(char: str) -> str | None:
    if not unicodedata.category(char).startswith("L"):
        return None
    first = unicodedata.name(char, "").split(" ", 1)[0]
    if not first or first in _NO_SCRIPT:
        return None
    return _NAME_SCRIPTS.get(first, first.title())


def label_scripts(label: str) -> set[str]:
    """The scripts of the letters of ``label`` (Unicode form)."""
    return {script for char in label if (script := _script(char))}


def _highly_restrictive(scripts: set[str]) -> bool:
    return len(scripts) <= 1 or any(
        scripts <= allowed for allowed in _HIGHLY_RESTRICTIVE
    )


def mixed_script_labels(domain: str) -> list[tuple[str, set[str]]]:
    """Each label of ``domain`` (stored or Unicode form) that mixes scripts
    beyond what UTS #39 calls highly restrictive, with its scripts."""
    labels = display_domain(domain).split(".")
    return [
        (label, scripts)
        for label in labels
        if not _highly_restrictive(scripts := label_scripts(label))
    ]
