"""Failed portal logins: how long ``authenticate_owner`` takes, by kind of account.

A failed login must take about as long for an unknown address as for a
mailbox, whatever scheme its hash is in (issue 22: 57 ms for a mailbox on
an imported hash against 78 ms otherwise). Seeds a throw-away SQLite
database with one mailbox per hash scheme (the production costs, not the
tests' low ones), then times wrong passwords against each, interleaved, and
prints the median and the 10th/90th percentiles.

Run from the project root: ``.venv/bin/python bench/login_timing.py --help``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="mailpanel-bench-"))
    os.environ.update(
        DJANGO_SETTINGS_MODULE="mailpanel.settings",
        DEBUG="true",
        SECRET_KEY="bench-only",
        DATABASE_URL=f"sqlite:///{work / 'panel.sqlite3'}",
        MAILPANEL_MAILBOX_HOOKS="",
    )
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)

    from passlib.hash import md5_crypt, sha512_crypt

    from accounts.owners import authenticate_owner
    from domains import passwords
    from domains.models import Domain, Mailbox

    password = "bench password 1"  # noqa: S105
    hashes = {
        "ARGON2ID (current)": passwords.hash_password(password),
        # 5000 rounds: what doveadm and other panels write.
        "SHA512-CRYPT": "{SHA512-CRYPT}"
        + sha512_crypt.using(rounds=5000).hash(password),
        "MD5-CRYPT": "{MD5-CRYPT}" + md5_crypt.hash(password),
        "PLAIN": "{PLAIN}" + password,
        "BLF-CRYPT (cost 12)": passwords.hash_password(password, "BLF-CRYPT"),
    }
    domain = Domain.objects.create(name="bench.test")
    addresses = {"unknown address": "nobody@bench.test"}
    for i, (label, stored) in enumerate(hashes.items()):
        Mailbox.objects.create(domain=domain, local_part=f"m{i}", password=stored)
        addresses[label] = f"m{i}@bench.test"

    times: dict[str, list[float]] = {label: [] for label in addresses}
    authenticate_owner("nobody@bench.test", "warm-up")
    for _ in range(args.rounds):
        for label, address in addresses.items():
            started = time.perf_counter()
            assert authenticate_owner(address, "wrong password") is None
            times[label].append((time.perf_counter() - started) * 1000)

    print(f"failed logins, {args.rounds} each (ms): median [p10, p90]")
    for label, values in times.items():
        print(
            f"  {label:<22} {statistics.median(values):7.1f} "
            f"[{percentile(values, 0.1):.1f}, {percentile(values, 0.9):.1f}]"
        )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
