"""The out-of-office reply as a Sieve script (RFC 5228, 5230, 5260).

Dovecot's Pigeonhole runs the script at LMTP delivery. Rendering is a pure
function of the ``Vacation`` row and the addresses the mailbox receives at, so
it is tested without a database or a mail server, and compiled with
``sievec`` in the tests.
"""

from collections.abc import Iterable

from accounts.models import Vacation, normalize_line_breaks

SCRIPT_HEADER = "# Written by mailpanel from the owner's out-of-office settings;\n"
SCRIPT_HEADER += "# edits here are overwritten at the next change.\n"

# Headers that mark mail no person is waiting for an answer to (RFC 2369, 2919,
# 3834). Pigeonhole's vacation already skips some of these; naming them here
# keeps the rule in one readable place and independent of its defaults.
_LIST_HEADERS = ("list-id", "list-unsubscribe", "list-post", "list-help")
_BULK_PRECEDENCE = ("bulk", "list", "junk")


def sieve_string(value: str) -> str:
    """A Sieve quoted string: only ``"`` and ``\\`` need escaping.

    Quoted strings may span lines, so a message keeps its line breaks.
    """
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def sieve_string_list(values: Iterable[str]) -> str:
    return "[" + ", ".join(sieve_string(v) for v in values) + "]"


def render_vacation_sieve(vacation: Vacation, *, addresses: Iterable[str] = ()) -> str:
    """The script that answers mail between ``start`` and ``end``, inclusive.

    ``addresses`` are the mailbox's other addresses (aliases that deliver to
    it): vacation only answers mail addressed to the owner, and mail sent to
    an alias names the alias, not the mailbox.

    Dates are compared with ``currentdate`` in the mail server's local time.
    """
    # One test per header: ``exists [a, b]`` is true only if all of them exist.
    skip_tests = [f"exists {sieve_string(h)}" for h in _LIST_HEADERS]
    skip_tests.append(
        f'header :contains "precedence" {sieve_string_list(_BULK_PRECEDENCE)}'
    )
    # Auto-Submitted: anything but "no" is a machine (RFC 3834 section 5).
    skip_tests.append(
        'allof (exists "auto-submitted", not header :is "auto-submitted" "no")'
    )
    vacation_args = [f":days {int(vacation.reply_days)}"]
    vacation_args.append(f":subject {sieve_string(vacation.subject)}")
    extra = sorted(set(addresses))
    if extra:
        vacation_args.append(f":addresses {sieve_string_list(extra)}")
    # The model stores LF already; a row saved before it did may hold CRs.
    message = normalize_line_breaks(vacation.message)
    return (
        SCRIPT_HEADER
        + 'require ["vacation", "date", "relational"];\n\n'
        + "# Never answer mailing lists, bulk mail or automatic messages.\n"
        + "if anyof (\n    "
        + ",\n    ".join(skip_tests)
        + "\n) {\n    stop;\n}\n\n"
        + "if allof (\n"
        + f'    currentdate :value "ge" "date" "{vacation.start.isoformat()}",\n'
        + f'    currentdate :value "le" "date" "{vacation.end.isoformat()}"\n'
        + ") {\n"
        + f"    vacation {' '.join(vacation_args)}\n"
        + f"        {sieve_string(message)};\n"
        + "}\n"
    )
