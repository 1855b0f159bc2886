"""Latency of the Postfix and Dovecot lookups against a primary-key floor.

Seeds a dedicated PostgreSQL database (1,000 domains, 100 alias domains,
100,000 mailboxes, 100,000 aliases, forwards and send-as identities), builds
the lookup tables with ``domains.lookups.sync_domains()`` and then times every
query of docs/sql-interface.md (the text in ``domains.sql_interface``, which
``mailserver`` renders) the way the daemons send it: one persistent
autocommit connection, plain text with the key inlined and escaped with
PQescapeStringConn (as Postfix's and Dovecot's pgsql drivers do), no prepared
statements, simple query protocol. Each query is interleaved, in random order,
with a bare primary-key lookup of the same columns on the same table (the
floor), so machine noise hits both alike. 20% of the keys of both are missing.

Run from the project root: ``.venv/bin/python bench/lookups.py --help``.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import random
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import pq
from psycopg.conninfo import conninfo_to_dict, make_conninfo

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.machine import machine_report  # noqa: E402

# The exact text mailserver renders into the Postfix and Dovecot configuration.
from domains.sql_interface import (  # noqa: E402
    DOVECOT_PASSWORD_QUERY,
    DOVECOT_USER_QUERY,
    POSTFIX_QUERIES,
    expand_postfix_query,
)

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/mailpanel_bench"

N_DOMAINS = 1_000
N_ALIAS_DOMAINS = 100  # one alias domain on every tenth domain
N_MAILBOXES = 100_000
N_ALIASES = 100_000
MISS_RATE = 0.2
BLOCKS = 10  # for the spread of the p99 ratio over time

PLAIN_TARGET = 1.1
EXPANSION_TARGET = 1.2

FIRST_NAMES = (
    "anna", "ben", "clara", "david", "eva", "felix", "greta", "hugo", "ida", "jonas",
)  # fmt: skip
LAST_NAMES = (
    "schmidt", "mueller", "weber", "fischer", "meyer",
    "wagner", "becker", "hoffmann", "schulz", "koch",
)  # fmt: skip
ROLES = (
    "info", "sales", "support", "billing", "office",
    "jobs", "press", "team", "contact", "admin",
)  # fmt: skip

LOOKUP_TABLES = (
    "domains_postfixdomain",
    "domains_postfixmailbox",
    "domains_postfixalias",
    "domains_postfixsenderlogin",
    "domains_postfixrecipientaccess",
    "domains_postfixsenderaccess",
    "domains_dovecotuser",
)


# --- Database management ------------------------------------------------------


def conninfo(url: str, dbname: str | None = None) -> str:
    params = conninfo_to_dict(url)
    if dbname is not None:
        params["dbname"] = dbname
    return make_conninfo(**params)


def database_name(url: str) -> str:
    name = conninfo_to_dict(url).get("dbname")
    if not name:
        sys.exit(f"--database-url must name a database: {url}")
    return str(name)


def database_exists(url: str) -> bool:
    with psycopg.connect(conninfo(url, "postgres"), autocommit=True) as conn:
        row = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [database_name(url)]
        ).fetchone()
    return row is not None


def is_seeded(url: str) -> bool:
    if not database_exists(url):
        return False
    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        if conn.execute("SELECT to_regclass('domains_dovecotuser')").fetchone() == (
            None,
        ):
            return False
        domains = conn.execute("SELECT count(*) FROM domains_domain").fetchone()
        users = conn.execute("SELECT count(*) FROM domains_dovecotuser").fetchone()
    return domains == (N_DOMAINS,) and users is not None and users[0] > 0


def guard(url: str) -> str:
    name = database_name(url)
    if "bench" not in name:
        sys.exit(f"refusing to create or drop {name!r}: its name lacks 'bench'")
    return name


def drop_database(url: str) -> None:
    name = guard(url)
    with psycopg.connect(conninfo(url, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def create_database(url: str) -> None:
    name = guard(url)
    drop_database(url)
    with psycopg.connect(conninfo(url, "postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')


# --- Seeding ------------------------------------------------------------------


@contextmanager
def timed(label: str, timings: dict[str, float]) -> Iterator[None]:
    start = time.perf_counter()
    yield
    timings[label] = time.perf_counter() - start
    print(f"  {label:<28} {timings[label]:8.2f} s", flush=True)


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "mailpanel.settings"
    os.environ["SECRET_KEY"] = "bench"
    # DEBUG would keep every one of the seeding queries in memory.
    os.environ["DEBUG"] = "false"
    import django

    django.setup()


def mailbox_local_part(j: int) -> str:
    return f"{FIRST_NAMES[j % 10]}.{LAST_NAMES[(j // 10) % 10]}{j // 100 or ''}"


def alias_local_part(j: int) -> str:
    return f"{ROLES[j % 10]}{j // 10 or ''}"


def seed(url: str, rng: random.Random) -> dict[str, float]:
    """Create the source rows with bulk_create, then build the lookup rows."""
    from django.core.management import call_command
    from django.db import connections, transaction

    from domains import lookups, passwords
    from domains.models import (
        Alias,
        Domain,
        DomainAlias,
        Forward,
        Mailbox,
        SendAsIdentity,
    )

    timings: dict[str, float] = {}
    per_domain = N_MAILBOXES // N_DOMAINS
    aliases_per_domain = N_ALIASES // N_DOMAINS
    with timed("migrate", timings):
        call_command("migrate", verbosity=0)
    with timed("hash one password", timings):
        password = passwords.hash_password("correct horse battery staple")

    with timed("bulk_create source rows", timings), transaction.atomic():
        domains = Domain.objects.bulk_create(
            [Domain(name=f"domain{i:04d}.example.org") for i in range(N_DOMAINS)]
        )
        step = N_DOMAINS // N_ALIAS_DOMAINS
        DomainAlias.objects.bulk_create(
            DomainAlias(name=f"alias{i:04d}.example.net", target=domain)
            for i, domain in enumerate(domains[::step])
        )
        mailboxes = Mailbox.objects.bulk_create(
            (
                Mailbox(
                    domain=domain,
                    local_part=mailbox_local_part(j),
                    password=password,
                    quota=rng.choice((0, 1 << 30, 5 << 30)),
                    active=j % 50 != 49,  # 2% disabled: recipient_access rows
                    imap_enabled=j % 20 != 7,
                    pop3_enabled=j % 3 != 0,
                )
                for domain in domains
                for j in range(per_domain)
            ),
            batch_size=5000,
        )

        def destinations(i: int) -> str:
            base = i * per_domain
            picks = rng.sample(range(per_domain), rng.choice((1, 1, 2, 3)))
            addresses = [
                f"{mailboxes[base + k].local_part}@{domains[i].name}" for k in picks
            ]
            if rng.random() < 0.1:
                addresses.append(f"ext{rng.randrange(10**6)}@external.example")
            return "\n".join(addresses)

        Alias.objects.bulk_create(
            (
                Alias(
                    domain=domain,
                    # Every fifth domain has a catch-all (half of them aliased).
                    local_part="" if j == 0 and i % 5 == 0 else alias_local_part(j),
                    destinations=destinations(i),
                    active=j % 50 != 49,
                )
                for i, domain in enumerate(domains)
                for j in range(aliases_per_domain)
            ),
            batch_size=5000,
        )
        Forward.objects.bulk_create(
            (
                Forward(
                    mailbox=mailbox,
                    destinations=f"fwd{n}@elsewhere.example",
                    keep_copy=n % 2 == 0,
                )
                for n, mailbox in enumerate(mailboxes[10::50])
            ),
            batch_size=5000,
        )
        SendAsIdentity.objects.bulk_create(
            (
                SendAsIdentity(
                    mailbox=mailbox,
                    address=f"{FIRST_NAMES[n % 10]}@{mailbox.domain.name}",
                )
                for n, mailbox in enumerate(mailboxes[3::20])
            ),
            batch_size=5000,
        )

    with timed("sync_domains (1,000)", timings):
        lookups.sync_domains([domain.pk for domain in domains])
    connections.close_all()
    return timings


# --- Benchmark ----------------------------------------------------------------


@dataclass
class Case:
    name: str
    table: str
    query: Callable[[str, random.Random], str]  # escaped key -> SQL
    floor_columns: str
    target: float
    hits: Sequence[str]
    miss: Callable[[int], str]


@dataclass
class Result:
    case: Case
    times: list[int]  # ns, in the order measured
    floor: list[int]
    hit_rate: float
    floor_hit_rate: float

    def ratio_p99_spread(self, blocks: int = BLOCKS) -> tuple[float, float, float]:
        """Median, min and max p99 ratio over consecutive blocks of pairs.

        A wide spread means machine noise, not the query, sets the p99.
        """
        size = len(self.times) // blocks
        ratios = sorted(
            percentile(sorted(self.times[b * size : (b + 1) * size]), 99)
            / percentile(sorted(self.floor[b * size : (b + 1) * size]), 99)
            for b in range(blocks)
        )
        return ratios[len(ratios) // 2], ratios[0], ratios[-1]


def percentile(sorted_ns: Sequence[int], p: float) -> float:
    """Nearest-rank percentile, in microseconds."""
    rank = max(1, math.ceil(p / 100 * len(sorted_ns)))
    return sorted_ns[rank - 1] / 1000


def postfix(map_name: str) -> Callable[[str, random.Random], str]:
    template = POSTFIX_QUERIES[map_name]

    def build(key: str, rng: random.Random) -> str:
        # %s, %u and %d as Postfix expands them; every key here is a whole
        # address, for which Postfix always sends the query.
        query = expand_postfix_query(template, key)
        if query is None:
            raise ValueError(f"Postfix sends no {map_name} query for {key!r}")
        return query

    return build


def password_query(key: str, rng: random.Random) -> str:
    service = rng.choice(("imap", "imap", "smtp", "pop3"))
    return DOVECOT_PASSWORD_QUERY.replace("%Ls", service).replace("%u", key)


def user_query(key: str, rng: random.Random) -> str:
    return DOVECOT_USER_QUERY.replace("%u", key)


def build_cases(conn: psycopg.Connection) -> list[Case]:
    def column(query: str) -> list[str]:
        return [row[0] for row in conn.execute(query)]

    hosted = column("SELECT name FROM domains_domain WHERE active ORDER BY id")
    alias_domains = set(column("SELECT name FROM domains_domainalias WHERE active"))
    alias_list = sorted(alias_domains)
    aliases = column("SELECT address FROM domains_postfixalias ORDER BY id")
    plain_aliases = [a for a in aliases if a.rpartition("@")[2] not in alias_domains]
    expanded = [a for a in aliases if a.rpartition("@")[2] in alias_domains]
    users = column("SELECT username FROM domains_dovecotuser ORDER BY id")

    def miss_at(domains: Sequence[str]) -> Callable[[int], str]:
        return lambda n: f"nosuch{n}@{domains[n % len(domains)]}"

    return [
        Case(
            "virtual_mailbox_domains",
            "domains_postfixdomain",
            postfix("virtual_mailbox_domains"),
            "1",
            PLAIN_TARGET,
            column("SELECT name FROM domains_postfixdomain"),
            lambda n: f"nosuch{n}.example.org",
        ),
        Case(
            "virtual_mailbox_maps",
            "domains_postfixmailbox",
            postfix("virtual_mailbox_maps"),
            "maildir",
            PLAIN_TARGET,
            column("SELECT address FROM domains_postfixmailbox"),
            miss_at(hosted),
        ),
        Case(
            "virtual_alias_maps",
            "domains_postfixalias",
            postfix("virtual_alias_maps"),
            "destination",
            PLAIN_TARGET,
            plain_aliases,
            miss_at(hosted),
        ),
        Case(
            "virtual_alias_maps x@aliasdom",
            "domains_postfixalias",
            postfix("virtual_alias_maps"),
            "destination",
            EXPANSION_TARGET,
            expanded,
            miss_at(alias_list),
        ),
        Case(
            "smtpd_sender_login_maps",
            "domains_postfixsenderlogin",
            postfix("smtpd_sender_login_maps"),
            "login",
            EXPANSION_TARGET,
            column("SELECT DISTINCT address FROM domains_postfixsenderlogin"),
            miss_at(hosted),
        ),
        Case(
            "check_recipient_access",
            "domains_postfixrecipientaccess",
            postfix("recipient_access"),
            "action",
            PLAIN_TARGET,
            column("SELECT address FROM domains_postfixrecipientaccess"),
            miss_at(hosted),
        ),
        Case(
            "port 25 sender access",
            "domains_postfixsenderaccess",
            postfix("unauthenticated_sender_access"),
            "action",
            PLAIN_TARGET,
            column("SELECT address FROM domains_postfixsenderaccess"),
            miss_at(hosted),
        ),
        Case(
            "dovecot password_query",
            "domains_dovecotlogin",
            password_query,
            "username, password",
            PLAIN_TARGET,
            users,
            miss_at(hosted),
        ),
        Case(
            "dovecot user_query",
            "domains_dovecotuser",
            user_query,
            "maildir, quota_rule",
            PLAIN_TARGET,
            users,
            miss_at(hosted),
        ),
    ]


def workload(
    conn: psycopg.Connection, case: Case, n: int, rng: random.Random
) -> tuple[list[bytes], list[bytes]]:
    """``n`` queries and ``n`` floor queries, MISS_RATE of them for absent keys."""
    escaping = pq.Escaping(conn.pgconn)

    def escape(key: str) -> str:
        # What Postfix's and Dovecot's pgsql drivers do: PQescapeStringConn.
        return escaping.escape_string(key.encode()).decode()

    ids = [row[0] for row in conn.execute(f"SELECT id FROM {case.table}")]
    top = max(ids)
    queries: list[bytes] = []
    floors: list[bytes] = []
    for _ in range(n):
        if rng.random() < MISS_RATE:
            key = case.miss(rng.randrange(10**6))
        else:
            key = rng.choice(case.hits)
        queries.append(case.query(escape(key), rng).encode())
        pk = (
            top + 1 + rng.randrange(10**6)
            if rng.random() < MISS_RATE
            else rng.choice(ids)
        )
        floors.append(
            f"SELECT {case.floor_columns} FROM {case.table} WHERE id = {pk}".encode()
        )
    return queries, floors


def interleave(
    cur: psycopg.Cursor, queries: list[bytes], floors: list[bytes], rng: random.Random
) -> tuple[list[int], list[int], int, int]:
    """Time each query beside its floor, in random order within each pair."""
    clock = time.perf_counter_ns
    n = len(queries)
    first = [rng.random() < 0.5 for _ in range(n)]
    times = [0] * n
    floor = [0] * n
    hits = floor_hits = 0
    for i in range(n):
        if first[i]:
            t0 = clock()
            cur.execute(queries[i])
            a = cur.fetchall()
            t1 = clock()
            cur.execute(floors[i])
            b = cur.fetchall()
            t2 = clock()
            times[i], floor[i] = t1 - t0, t2 - t1
        else:
            t0 = clock()
            cur.execute(floors[i])
            b = cur.fetchall()
            t1 = clock()
            cur.execute(queries[i])
            a = cur.fetchall()
            t2 = clock()
            floor[i], times[i] = t1 - t0, t2 - t1
        hits += bool(a)
        floor_hits += bool(b)
    return times, floor, hits, floor_hits


def prewarm(conn: psycopg.Connection) -> None:
    """Load the lookup tables and their indexes into shared buffers."""
    try:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
    except psycopg.Error as exc:
        print(f"  (no pg_prewarm: {exc}; relying on the warm-up rounds)")
        return
    conn.execute(
        "SELECT pg_prewarm(c.oid) FROM pg_class c "
        "WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'i') "
        "AND (c.relname LIKE ANY (%s) OR c.oid IN ("
        "  SELECT indexrelid FROM pg_index WHERE indrelid::regclass::text = ANY (%s)))",
        [[*LOOKUP_TABLES], [*LOOKUP_TABLES]],
    )


def explain(conn: psycopg.Connection, case: Case, rng: random.Random) -> None:
    queries, floors = workload(conn, case, 200, rng)
    query = next(q for q in queries if b"nosuch" not in q)
    for label, sql in (("query", query), ("floor", floors[0])):
        print(f"--- {case.name} {label}: {sql.decode()}")
        plan = conn.execute(b"EXPLAIN (ANALYZE, BUFFERS) " + sql).fetchall()
        for (line,) in plan:
            print(f"    {line}")


def run(url: str, args: argparse.Namespace) -> list[Result]:
    results = []
    # prepare_threshold=None: never prepare, Postfix and Dovecot send plain text.
    with psycopg.connect(
        conninfo(url), autocommit=True, prepare_threshold=None
    ) as conn:
        prewarm(conn)
        for case in build_cases(conn):
            if args.only and not any(o in case.name for o in args.only):
                continue
            rng = random.Random(f"{args.seed}:{case.name}")
            if args.explain:
                explain(conn, case, rng)
            warm_q, warm_f = workload(conn, case, args.warmup, rng)
            queries, floors = workload(conn, case, args.samples, rng)
            with conn.cursor() as cur:
                interleave(cur, warm_q, warm_f, rng)
                gc.collect()
                gc.disable()
                try:
                    times, floor, hits, floor_hits = interleave(
                        cur, queries, floors, rng
                    )
                finally:
                    gc.enable()
            results.append(
                Result(
                    case,
                    times,
                    floor,
                    hits / len(times),
                    floor_hits / len(floor),
                )
            )
            print(f"  measured {case.name}", flush=True)
    return results


def print_table(results: list[Result]) -> bool:
    header = (
        f"{'query':<30} {'p50 µs':>7} {'p99 µs':>7} {'floor p50/p99':>14} "
        f"{'ratio p50':>9} {'ratio p99':>9} {'target':>6} {'result':>6}  "
        f"{'hits':>4} {'floor':>5}  p99 ratio in {BLOCKS} blocks"
    )
    print(header)
    print("-" * len(header))
    passed = True
    for r in results:
        times, floor = sorted(r.times), sorted(r.floor)
        p50, p99 = percentile(times, 50), percentile(times, 99)
        f50, f99 = percentile(floor, 50), percentile(floor, 99)
        ok = p99 / f99 <= r.case.target
        passed &= ok
        median, low, high = r.ratio_p99_spread()
        print(
            f"{r.case.name:<30} {p50:7.1f} {p99:7.1f} {f'{f50:.1f}/{f99:.1f}':>14} "
            f"{p50 / f50:9.3f} {p99 / f99:9.3f} {f'{r.case.target:.1f}x':>6} "
            f"{'PASS' if ok else 'FAIL':>6}  {r.hit_rate:4.0%} {r.floor_hit_rate:5.0%}"
            f"  median {median:.2f} [{low:.2f}-{high:.2f}]"
        )
    print(
        "\nratio = query / floor; the result compares ratio p99 with the target. "
        "hits: share of\nlookups that returned a row (query, floor); the "
        "password_query also misses\nwhen the service is disabled for the user."
    )
    return passed


def lookup_counts(url: str) -> None:
    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        for table in LOOKUP_TABLES:
            row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
            size = conn.execute(
                "SELECT pg_size_pretty(pg_total_relation_size(%s::regclass))", [table]
            ).fetchone()
            assert row is not None and size is not None
            print(f"  {table:<32} {row[0]:>8} rows {size[0]:>9}")


def add_database_arguments(parser: argparse.ArgumentParser, default_url: str) -> None:
    """--database-url and --keep, as every bench on the seeded database takes them."""
    parser.add_argument(
        "--database-url",
        default=default_url,
        help="bench database; created and dropped by the script, so its name "
        "must contain 'bench' (default: %(default)s)",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="reuse the database if it is already seeded, and keep it afterwards",
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_database_arguments(parser, DEFAULT_URL)
    parser.add_argument(
        "--samples", type=int, default=20_000, help="timed pairs per query"
    )
    parser.add_argument(
        "--warmup", type=int, default=2_000, help="untimed pairs per query first"
    )
    parser.add_argument("--seed", default="mailpanel", help="random seed")
    parser.add_argument(
        "--only", action="append", help="run only queries whose name contains this"
    )
    parser.add_argument(
        "--explain",
        action="store_true",
        help="print EXPLAIN (ANALYZE, BUFFERS) of each query and its floor",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    print(machine_report())
    url: str = args.database_url
    started = time.perf_counter()
    if args.keep and is_seeded(url):
        print(f"Reusing seeded database {database_name(url)}")
    else:
        print(f"Seeding {database_name(url)}")
        created: dict[str, float] = {}
        with timed("create database", created):
            create_database(url)
        setup_django(url)
        timings = created | seed(url, random.Random(args.seed))
        # VACUUM too, not only ANALYZE: it sets the visibility map, as
        # autovacuum would soon do in production (and would otherwise do in
        # the middle of the measurements).
        with (
            psycopg.connect(conninfo(url), autocommit=True) as conn,
            timed("VACUUM ANALYZE", timings),
        ):
            conn.execute("VACUUM ANALYZE")
        print(f"  {'total seeding':<28} {sum(timings.values()):8.2f} s")
    lookup_counts(url)
    print(
        f"Measuring {args.samples} interleaved pairs per query "
        f"(+{args.warmup} warm-up), {MISS_RATE:.0%} missing keys"
    )
    try:
        results = run(url, args)
    finally:
        if not args.keep:
            drop_database(url)
    print()
    passed = print_table(results)
    print(f"\nTotal run time {time.perf_counter() - started:.1f} s")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
