"""render_vacation_sieve(): the script's text, compiled and run by Pigeonhole."""

import os
import shutil
import subprocess
import tempfile
from datetime import date, timedelta
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError

from accounts.models import Vacation
from accounts.sieve import render_vacation_sieve
from tests.conftest import unavailable


def require(program: str) -> None:
    if shutil.which(program) is None:
        unavailable(
            f"dovecot-sieve ({program}) not installed (scripts/mailserver-install.sh)"
        )


@pytest.fixture
def sievec_installed() -> None:
    require("sievec")


@pytest.fixture
def sieve_test_installed() -> None:
    require("sieve-test")


needs_sievec = pytest.mark.usefixtures("sievec_installed")
needs_sieve_test = pytest.mark.usefixtures("sieve_test_installed")


def vacation(**fields) -> Vacation:
    today = date.today()
    defaults = {
        "enabled": True,
        "subject": "Out of office",
        "message": "Back on Monday.",
        "start": today - timedelta(days=1),
        "end": today + timedelta(days=1),
        "reply_days": 7,
    }
    return Vacation(**{**defaults, **fields})


def test_it_replies_between_the_first_and_last_day():
    script = render_vacation_sieve(
        vacation(start=date(2031, 7, 1), end=date(2031, 7, 14))
    )

    assert 'currentdate :value "ge" "date" "2031-07-01"' in script
    assert 'currentdate :value "le" "date" "2031-07-14"' in script


def test_it_replies_once_per_sender_per_period():
    assert ":days 3 " in render_vacation_sieve(vacation(reply_days=3))


def test_it_names_the_mailboxs_other_addresses():
    script = render_vacation_sieve(
        vacation(), addresses=["sales@example.org", "alice@alias.example"]
    )

    assert ':addresses ["alice@alias.example", "sales@example.org"]' in script


def test_it_skips_lists_bulk_and_automatic_mail_explicitly():
    script = render_vacation_sieve(vacation())

    for test in (
        'exists "list-id"',
        'exists "list-unsubscribe"',
        'header :contains "precedence" ["bulk", "list", "junk"]',
        'not header :is "auto-submitted" "no"',
    ):
        assert test in script
    assert script.index("stop;") < script.index("vacation :days")


def test_it_escapes_quotes_and_backslashes():
    script = render_vacation_sieve(
        vacation(subject='Away "for real"', message='C:\\temp\n"quoted"; stop;')
    )

    assert ':subject "Away \\"for real\\""' in script
    assert '"C:\\\\temp\n\\"quoted\\"; stop;";' in script


@needs_sievec
@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"subject": 'Ünïcödé "quotes" \\ and ; braces }', "message": "a\r\nb\n.\n"},
        {"message": 'text:\n.\n"}\nstop;\nvacation "x";'},
    ],
)
def test_it_compiles_with_sievec(tmp_path, fields):
    script = tmp_path / "mailpanel.sieve"
    script.write_text(
        render_vacation_sieve(vacation(**fields), addresses=["a@example.org"])
    )

    result = subprocess.run(
        ["sievec", str(script), str(tmp_path / "out.svbin")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode == 0, result.stderr + result.stdout


def sievec(tmp_path, script: str) -> subprocess.CompletedProcess:
    """Compile ``script`` with Pigeonhole; the binary goes to ``tmp_path`` too."""
    path = tmp_path / "mailpanel.sieve"
    path.write_text(script, encoding="utf-8")
    return subprocess.run(
        ["sievec", str(path), str(tmp_path / "out.svbin")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@needs_sievec
@pytest.mark.parametrize(
    "fields",
    [
        {"message": "line one\rline two"},
        {"message": "old\r\rMac\r\n"},
        {"message": "nul \x00 inside"},
        {"message": "a lone \ud800 surrogate"},
        {"subject": "a lone \udfff surrogate"},
        {"subject": "nul \x00"},
        {"message": "form\x0cfeed, vertical\x0btab, escape\x1b[0m, delete\x7f"},
    ],
    ids=repr,
)
def test_a_reply_the_model_accepts_always_compiles(tmp_path, fields):
    # Bare CRs and NULs used to pass clean() and break the script (sievec:
    # "stray carriage-return", "NUL character"); a lone surrogate could not
    # even be written (UnicodeEncodeError). The model now normalises line
    # breaks and refuses what no script can hold, naming the field.
    row = vacation(**fields)
    try:
        row.clean()
    except ValidationError as exc:
        assert set(exc.message_dict) == set(fields)
        return

    result = sievec(tmp_path, render_vacation_sieve(row, addresses=["a@b.example"]))

    assert result.returncode == 0, result.stderr + result.stdout
    assert "\r" not in row.message


def run_sieve_test(script: str, headers: str) -> str:
    """Run ``script`` on a message with Pigeonhole's sieve-test; its action list.

    sieve-test drops root privileges to the configured mail uid, so as root
    the files go to a directory that uid may read.
    """
    uid = 65534 if os.geteuid() == 0 else os.getuid()
    gid = 65534 if os.geteuid() == 0 else os.getgid()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        (home / "vacation.sieve").write_text(script)
        (home / "message.eml").write_text(
            headers + "Subject: hello\r\nMessage-ID: <1@example.net>\r\n\r\nHi\r\n"
        )
        (home / "dovecot.conf").write_text(
            f"mail_uid = {uid}\nmail_gid = {gid}\nfirst_valid_uid = 1\n"
            f"first_valid_gid = 1\nmail_location = maildir:{home}/Maildir\n"
        )
        for path in [home, *home.iterdir()]:
            os.chown(path, uid, gid)
        result = subprocess.run(
            [
                "sieve-test",
                "-c",
                str(home / "dovecot.conf"),
                "-a",
                "alice@example.org",
                "-r",
                "alice@example.org",
                str(home / "vacation.sieve"),
                str(home / "message.eml"),
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            env={**os.environ, "HOME": str(home)},
        )
    assert result.returncode == 0, result.stderr + result.stdout
    return result.stdout


PERSONAL = "From: bob@example.net\r\nTo: alice@example.org\r\n"


@needs_sieve_test
def test_it_answers_a_personal_message():
    actions = run_sieve_test(render_vacation_sieve(vacation()), PERSONAL)

    assert "send vacation message" in actions
    assert "Back on Monday." in actions


@needs_sieve_test
def test_it_answers_mail_to_an_alias_of_the_mailbox():
    script = render_vacation_sieve(vacation(), addresses=["sales@example.org"])

    actions = run_sieve_test(
        script, "From: bob@example.net\r\nTo: sales@example.org\r\n"
    )

    assert "send vacation message" in actions


@needs_sieve_test
@pytest.mark.parametrize(
    "header",
    [
        "List-Id: <team.lists.example.net>\r\n",
        "List-Unsubscribe: <mailto:leave@lists.example.net>\r\n",
        "Precedence: bulk\r\n",
        "Precedence: list\r\n",
        "Auto-Submitted: auto-replied\r\n",
        "Auto-Submitted: auto-generated\r\n",
    ],
)
def test_it_never_answers_lists_bulk_or_automatic_mail(header):
    actions = run_sieve_test(render_vacation_sieve(vacation()), PERSONAL + header)

    assert "send vacation message" not in actions
    assert "store message in folder: INBOX" in actions


@needs_sieve_test
def test_it_answers_auto_submitted_no():
    actions = run_sieve_test(
        render_vacation_sieve(vacation()), PERSONAL + "Auto-Submitted: no\r\n"
    )

    assert "send vacation message" in actions


@needs_sieve_test
@pytest.mark.parametrize(
    ("start", "end"), [(-10, -1), (1, 10)], ids=["ended", "not started"]
)
def test_it_stays_silent_outside_the_dates(start, end):
    today = date.today()
    script = render_vacation_sieve(
        vacation(start=today + timedelta(days=start), end=today + timedelta(days=end))
    )

    actions = run_sieve_test(script, PERSONAL)

    assert "send vacation message" not in actions
