"""DNSBL scan time: concurrent against sequential against one query's latency.

Starts the tests' loopback DNS server with 100 ms added to every answer, 10 IP
zones (each with its RFC 5782 test entries) and 50 addresses, 5 of them
listed with a TXT reason, then runs ``monitoring.dnsbl.dnsbl_check`` three
ways: one query alone (the floor every scan pays at least once per round),
the concurrent scan with the default bound, and a sequential scan (bound 1).
No network beyond 127.0.0.1; no database.

Run from the project root: ``.venv/bin/python bench/dnsbl.py --help``.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.machine import machine_report  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

from monitoring.dnsbl import DEFAULT_CONCURRENCY, IP, Zone, dnsbl_check  # noqa: E402
from monitoring.resolver import lookup, make_resolver  # noqa: E402
from tests.monitoring.conftest import list_entry, working_zone  # noqa: E402
from tests.monitoring.dns_server import DnsTestServer  # noqa: E402

N_ADDRESSES = 50
N_ZONES = 10
N_LISTED = 5


def seed(server: DnsTestServer) -> tuple[list[Zone], list[str]]:
    zones = [
        Zone(f"bl{i}.bench.test", kind=IP, return_codes={"127.0.0.2": {"label": "x"}})
        for i in range(N_ZONES)
    ]
    addresses = [f"198.51.100.{i}" for i in range(1, N_ADDRESSES + 1)]
    for zone in zones:
        working_zone(server, zone)
    for address in addresses[:N_LISTED]:
        list_entry(server, zones[0].name, address, "127.0.0.2", txt="bench listing")
    return zones, addresses


def scan(server, zones, addresses, concurrency: int) -> tuple[float, int]:
    resolver = make_resolver(server.address, timeout=30)
    report = asyncio.run(
        dnsbl_check(
            resolver=resolver,
            zones=zones,
            subjects=addresses,
            concurrency=concurrency,
        )
    )
    listed = sum(1 for a in report.answers if a.verdict == "listed")
    assert listed == N_LISTED, listed
    assert all(h.ok for h in report.zones)
    return report.elapsed, report.queries


def one_query(server: DnsTestServer) -> float:
    resolver = make_resolver(server.address, timeout=30)
    started = time.monotonic()
    asyncio.run(lookup(resolver, "2.0.0.127.bl0.bench.test", "A"))
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=0.1, help="seconds per answer")
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    parser.add_argument(
        "--skip-sequential",
        action="store_true",
        help="estimate the sequential scan instead of running it (about a minute)",
    )
    args = parser.parse_args()
    print(machine_report())

    server = DnsTestServer(delay=args.delay).start()
    try:
        zones, addresses = seed(server)
        floor = one_query(server)
        concurrent, queries = scan(server, zones, addresses, args.concurrency)
        if args.skip_sequential:
            sequential, how = queries * floor, "estimated"
        else:
            sequential, _ = scan(server, zones, addresses, 1)
            how = "measured"
    finally:
        server.stop()

    # Self-tests are one round; then the A queries, then the TXT of the hits.
    rounds = 1 + math.ceil(N_ADDRESSES * N_ZONES / args.concurrency) + 1
    print(
        f"{N_ADDRESSES} addresses x {N_ZONES} zones, {queries} queries "
        f"(incl. {2 * N_ZONES} self-test, {N_LISTED} TXT), "
        f"{args.delay * 1000:.0f} ms added per answer"
    )
    print(f"one query (floor)        {floor * 1000:8.0f} ms")
    print(
        f"concurrent (bound {args.concurrency:>3})   {concurrent * 1000:8.0f} ms"
        f"   ideal {rounds} rounds = {rounds * floor * 1000:.0f} ms"
    )
    print(
        f"sequential ({how})   {sequential * 1000:8.0f} ms"
        f"   {sequential / concurrent:.1f}x the concurrent scan"
    )


if __name__ == "__main__":
    main()
