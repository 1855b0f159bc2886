"""The admin's pages on the 100,000-mailbox benchmark database.

Seeds (or, with ``--keep``, reuses) the database of ``bench.lookups`` with its
own functions, applies any newer migrations (the admin's indexes), then
requests each page through Django's test client, logged in as a superuser, in
this one process: the admin index, the domain list, the mailbox list, one
domain's mailboxes, a mailbox search, one mailbox's change page, the alias
list and an alias search. For each page it prints the SQL statements one
request runs and the median and p90 time of ``--requests`` requests (after
``--warmup`` untimed ones). Target: at most 10 statements and under 150 ms
median per page.

Run from the project root: ``.venv/bin/python bench/admin.py --help``.
"""

from __future__ import annotations

import argparse
import gc
import math
import random
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import psycopg

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import lookups  # noqa: E402
from bench.machine import machine_report  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/mailpanel_bench_admin"
MAX_QUERIES = 10
MEDIAN_TARGET_MS = 150.0
ADMIN_USERNAME = "bench-admin"


@dataclass
class Page:
    name: str
    url: str


@dataclass
class Result:
    page: Page
    times_ms: list[float]
    statements: list[tuple[float, str]]  # ms, SQL

    @property
    def queries(self) -> int:
        return len(self.statements)

    @property
    def median(self) -> float:
        return statistics.median(self.times_ms)

    @property
    def p90(self) -> float:
        ordered = sorted(self.times_ms)
        return ordered[max(1, math.ceil(0.9 * len(ordered))) - 1]

    @property
    def passed(self) -> bool:
        return self.queries <= MAX_QUERIES and self.median < MEDIAN_TARGET_MS


def prepare_database(url: str, keep: bool, seed: str) -> None:
    """Seed exactly like bench/lookups.py (its functions), unless --keep finds
    a seeded database; then migrate, so a database seeded before a new index
    migration gets it."""
    from django.core.management import call_command

    if keep and lookups.is_seeded(url):
        print(f"Reusing seeded database {lookups.database_name(url)}")
    else:
        print(f"Seeding {lookups.database_name(url)} (bench.lookups.seed)")
        timings: dict[str, float] = {}
        with lookups.timed("create database", timings):
            lookups.create_database(url)
        timings |= lookups.seed(url, random.Random(seed))
        print(f"  {'total seeding':<28} {sum(timings.values()):8.2f} s")
    timings = {}
    with lookups.timed("migrate", timings):
        call_command("migrate", verbosity=0)
    # VACUUM as well as ANALYZE: it sets the visibility map (index-only scans),
    # as autovacuum would soon do in production.
    with (
        psycopg.connect(lookups.conninfo(url), autocommit=True) as conn,
        lookups.timed("VACUUM ANALYZE", timings),
    ):
        conn.execute("VACUUM ANALYZE")


def pages(searches: Sequence[str]) -> list[Page]:
    """The pages an operator opens, with rows picked from the middle of the
    data (not the first page of an ordering, which an index may favour)."""
    from domains.models import Alias, Domain, Mailbox

    domain = Domain.objects.order_by("name")[Domain.objects.count() // 2]
    mailbox = Mailbox.objects.filter(domain=domain).order_by("local_part")[10]
    alias = Alias.objects.filter(domain=domain).order_by("local_part")[10]
    return [
        Page("admin index", "/admin/"),
        Page("domain list", "/admin/domains/domain/"),
        Page("mailbox list", "/admin/domains/mailbox/"),
        Page(
            "one domain's mailboxes",
            f"/admin/domains/mailbox/?domain={domain.name}",
        ),
        Page("mailbox search", f"/admin/domains/mailbox/?q={mailbox.local_part}"),
        Page("mailbox change page", f"/admin/domains/mailbox/{mailbox.pk}/change/"),
        Page("alias list", "/admin/domains/alias/"),
        Page("alias search", f"/admin/domains/alias/?q={alias.local_part}"),
        *(
            Page(
                f"search {term!r}", f"/admin/domains/mailbox/?{urlencode({'q': term})}"
            )
            for term in searches
        ),
    ]


def client():
    from django.contrib.auth import get_user_model
    from django.test import Client

    user_model = get_user_model()
    user = user_model.objects.filter(username=ADMIN_USERNAME).first()
    if user is None:
        user = user_model.objects.create_superuser(ADMIN_USERNAME, None, None)
    test_client = Client(HTTP_HOST="localhost")
    test_client.force_login(user)
    return test_client


def measure(test_client, page: Page, requests: int, warmup: int) -> Result:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    # Untimed first: the first request of a process also fills what every
    # process caches once (content types, templates).
    for _ in range(max(1, warmup)):
        response = test_client.get(page.url, secure=True)
        if response.status_code != 200:
            sys.exit(f"{page.name}: {page.url} answered {response.status_code}")
    # Counted on a request of its own, so that recording the statements
    # costs nothing in the timed ones.
    with CaptureQueriesContext(connection) as captured:
        test_client.get(page.url, secure=True)
    # Read now: the next request's request_started signal empties the log.
    statements = [(float(q["time"]) * 1000, q["sql"]) for q in captured]
    times = []
    gc.collect()
    for _ in range(requests):
        start = time.perf_counter()
        test_client.get(page.url, secure=True)
        times.append((time.perf_counter() - start) * 1000)
    return Result(page, times, statements)


def print_table(results: list[Result], show_sql: bool) -> bool:
    width = max(24, *(len(r.page.name) for r in results))
    header = (
        f"{'page':<{width}} {'SQL':>4} {'SQL ms':>7} {'median ms':>10} {'p90 ms':>8} "
        f"{'result':>6}  url"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        sql_ms = sum(ms for ms, _ in r.statements)
        print(
            f"{r.page.name:<{width}} {r.queries:>4} {sql_ms:7.0f} {r.median:10.1f} "
            f"{r.p90:8.1f} {'PASS' if r.passed else 'FAIL':>6}  {r.page.url}"
        )
    print(
        f"\nSQL: statements one request runs (session and user included), target "
        f"≤ {MAX_QUERIES};\nSQL ms: their time in that request (1 ms resolution); "
        f"median, p90: whole\nrequests through the test client, target median "
        f"< {MEDIAN_TARGET_MS:.0f} ms."
    )
    if show_sql:
        for r in results:
            print(f"\n--- {r.page.name}")
            for ms, sql in r.statements:
                print(f"{ms:6.0f} ms  {sql}")
    return all(r.passed for r in results)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    lookups.add_database_arguments(parser, DEFAULT_URL)
    parser.add_argument(
        "--requests", type=int, default=20, help="timed requests per page"
    )
    parser.add_argument(
        "--warmup", type=int, default=2, help="untimed requests per page first"
    )
    parser.add_argument("--seed", default="mailpanel", help="random seed")
    parser.add_argument(
        "--only", action="append", help="measure only pages whose name contains this"
    )
    parser.add_argument(
        "--search",
        action="append",
        default=[],
        help="also measure a mailbox search for this text (repeatable)",
    )
    parser.add_argument(
        "--show-sql", action="store_true", help="print the statements of each page"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    print(machine_report())
    url: str = args.database_url
    lookups.guard(url)
    started = time.perf_counter()
    lookups.setup_django(url)
    try:
        prepare_database(url, args.keep, args.seed)
        test_client = client()
        results = []
        for page in pages(args.search):
            if args.only and not any(o in page.name for o in args.only):
                continue
            results.append(measure(test_client, page, args.requests, args.warmup))
            print(f"  measured {page.name}", flush=True)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            lookups.drop_database(url)
    print(f"\n{args.requests} requests per page (+{args.warmup} warm-up)\n")
    passed = print_table(results, args.show_sql)
    print(f"\nTotal run time {time.perf_counter() - started:.1f} s")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
