"""Time mailpanel's backups of a generated maildir tree against `tar --zstd`
and against restic alone.

Generates 10,000 messages (200 mailboxes in 20 domains, sizes spread like
real mail: mostly text of a few KiB, some with base64 attachments), then times
the whole ``backups.services.backup_run()`` (database dump, freezing the
maildirs, the manifest, restic):

1. the first backup into an empty repository,
2. ``--rounds`` more with nothing changed,
3. ``--rounds`` more, each after 1% of the messages changed the way mail
   does: half of them read or flagged (renamed), a quarter expunged, a
   quarter newly delivered.

Two floors: ``tar --zstd`` of the same tree for a full copy, and a bare
``restic backup`` of the same tree into a repository of its own, run
``1 + --rounds`` times from this process before mailpanel's runs: its second
and later runs are what restic alone costs when nothing changed. The targets
(issue 20): nothing changed / first <= 0.1, 1% changed / first <= 0.15, and
nothing changed <= 2x the bare restic run with nothing changed (medians).

Everything runs in a temporary directory on SQLite, so no service is needed
but restic and zstd (scripts/backups-install.sh). The machine's state
(``bench.machine``) is printed first and the load average again at the end:
the figures of a busy machine are noise.

Run from the project root: ``.venv/bin/python bench/backup.py [--messages N]``.
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.machine import machine_report  # noqa: E402

WORDS = (
    "the",
    "mail",
    "server",
    "backup",
    "restore",
    "mailbox",
    "delivery",
    "message",
    "folder",
    "domain",
    "quota",
    "invoice",
    "meeting",
    "tomorrow",
    "please",
    "find",
    "attached",
    "regards",
    "thanks",
    "report",
    "schedule",
    "project",
    "update",
    "review",
    "draft",
    "final",
    "version",
    "customer",
    "order",
)


def body(rng: random.Random, n: int) -> bytes:
    size = min(int(rng.lognormvariate(8.3, 1.0)), 2_000_000)
    text = " ".join(rng.choice(WORDS) for _ in range(max(size // 7, 20)))
    lines = [text[i : i + 76] for i in range(0, len(text), 76)]
    headers = (
        f"Return-Path: <sender{n}@example.net>\n"
        f"Message-ID: <{n}.{rng.getrandbits(64):x}@example.net>\n"
        f"From: Sender {n} <sender{n}@example.net>\n"
        f"Subject: message {n}\n\n"
    )
    out = headers + "\n".join(lines) + "\n"
    if rng.random() < 0.1:  # an attachment: incompressible, like a PDF or JPEG
        blob = base64.encodebytes(os.urandom(rng.randint(20_000, 300_000))).decode()
        out += "\n--attachment\n" + blob
    return out.encode()


def deliver(maildir: Path, data: bytes, serial: int, sub: str = "cur") -> Path:
    name = f"{1700000000 + serial}.M{serial}P1.bench"
    if sub == "cur":
        name += ":2,S"
    tmp = maildir / "tmp" / name
    tmp.write_bytes(data)
    target = maildir / sub / name
    os.rename(tmp, target)
    return target


def generate(root: Path, count: int, rng: random.Random) -> list[Path]:
    paths = []
    homes = [
        root / f"domain{d}.example" / f"user{u}" / "Maildir"
        for d in range(20)
        for u in range(10)
    ]
    for maildir in homes:
        for sub in ("cur", "new", "tmp", ".Sent/cur", ".Sent/new", ".Sent/tmp"):
            (maildir / sub).mkdir(parents=True, exist_ok=True)
    for n in range(count):
        maildir = homes[n % len(homes)]
        if rng.random() < 0.2:
            maildir = maildir / ".Sent"
        paths.append(deliver(maildir, body(rng, n), n, rng.choice(("cur", "new"))))
    return paths


# Serial numbers of the messages delivered by change(), unique across rounds.
SERIALS = itertools.count(10_000_000)


def change(paths: list[Path], share: float, rng: random.Random) -> int:
    """Change ``share`` of the messages; ``paths`` follows (renamed, gone, new)."""
    chosen = rng.sample(range(len(paths)), int(len(paths) * share))
    expunged = []
    for i, index in enumerate(chosen):
        path = paths[index]
        if i % 4 in (0, 1):  # read or flagged: a rename
            flags = "FS" if path.name.endswith(":2,S") else "S"
            flagged = (
                path.parent.parent / "cur" / f"{path.name.split(':')[0]}:2,{flags}"
            )
            os.rename(path, flagged)
            paths[index] = flagged
        elif i % 4 == 2:  # expunged
            path.unlink()
            expunged.append(index)
        else:  # a new delivery
            serial = next(SERIALS)
            paths.append(deliver(path.parent.parent, body(rng, serial), serial, "new"))
    for index in sorted(expunged, reverse=True):
        del paths[index]
    return len(chosen)


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def bare_restic(work: Path, tree: Path, runs: int) -> list[tuple[float, int]]:
    """``restic backup TREE`` ``runs`` times into a repository of its own:
    (seconds, bytes added) of each, the first one into the empty repository."""
    env = {
        **os.environ,
        "RESTIC_REPOSITORY": str(work / "bare-repo"),
        "RESTIC_PASSWORD": "bench-only-passphrase",
        "RESTIC_CACHE_DIR": str(work / "bare-cache"),
    }
    subprocess.run(["restic", "init"], env=env, check=True, capture_output=True)
    results = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(
            ["restic", "backup", "--json", "--host", "bench", str(tree)],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        elapsed = time.perf_counter() - started
        summary = json.loads(done.stdout.strip().splitlines()[-1])
        results.append((elapsed, int(summary.get("data_added", 0))))
    return results


def verdict(value: float, target: float) -> str:
    return (
        f"{value:.2f} (target <= {target:g}: {'PASS' if value <= target else 'FAIL'})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--rounds", type=int, default=3, help="runs of each kind after the first"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    print(machine_report())

    work = Path(tempfile.mkdtemp(prefix="mailpanel-bench-"))
    vmail = work / "vmail"
    os.environ.update(
        DJANGO_SETTINGS_MODULE="mailpanel.settings",
        DEBUG="true",
        SECRET_KEY="bench-only",
        DATABASE_URL=f"sqlite:///{work / 'panel.sqlite3'}",
        MAILPANEL_VMAIL_ROOT=str(vmail),
        MAILPANEL_VMAIL_UID=str(os.getuid()),
        MAILPANEL_VMAIL_GID=str(os.getgid()),
        MAILPANEL_BACKUP_REPOSITORY=str(work / "repo"),
        MAILPANEL_BACKUP_PASSPHRASE="bench-only-passphrase",
        MAILPANEL_BACKUP_CACHE_DIR=str(work / "cache"),
        MAILPANEL_BACKUP_CONFIG_PATHS=str(work / "etc"),
    )
    (work / "etc").mkdir()
    (work / "etc" / "main.cf").write_text("myhostname = bench.example\n")

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    from backups import services

    rng = random.Random(args.seed)
    started = time.perf_counter()
    paths = generate(vmail, args.messages, rng)
    tree = du(vmail)
    print(
        f"tree: {args.messages} messages, {tree / 2**20:.1f} MiB "
        f"(generated in {time.perf_counter() - started:.1f} s)"
    )

    started = time.perf_counter()
    subprocess.run(
        ["tar", "--zstd", "-cf", str(work / "floor.tar.zst"), "-C", str(vmail), "."],
        check=True,
    )
    tar_time = time.perf_counter() - started
    tar_size = (work / "floor.tar.zst").stat().st_size

    bare = bare_restic(work, vmail, 1 + args.rounds)

    services.backup_init()
    plan = ["first backup"]
    plan += ["nothing changed"] * args.rounds
    plan += ["1% changed"] * args.rounds
    results = []
    for label in plan:
        if label == "1% changed":
            change(paths, 0.01, rng)
        started = time.perf_counter()
        run = services.backup_run()
        elapsed = time.perf_counter() - started
        if run.state != "succeeded":
            sys.exit(f"{label}: {run.state}: {run.error}")
        hashed = run.details.get("messages_hashed")
        results.append((label, elapsed, run.bytes_added, run.repository_size, hashed))

    print()
    print(
        f"{'':22} {'seconds':>8} {'x tar':>7} {'added MiB':>10} {'repo MiB':>9} "
        f"{'hashed':>7}"
    )
    print(
        f"{'tar --zstd':22} {tar_time:8.2f} {1.0:7.2f} {'':>10} {tar_size / 2**20:9.1f}"
    )
    for n, (elapsed, added) in enumerate(bare):
        label = "bare restic, first" if n == 0 else "bare restic, unchanged"
        print(
            f"{label:22} {elapsed:8.2f} {elapsed / tar_time:7.2f} {added / 2**20:10.2f}"
        )
    for label, elapsed, added, size, hashed in results:
        print(
            f"{label:22} {elapsed:8.2f} {elapsed / tar_time:7.2f} "
            f"{(added or 0) / 2**20:10.2f} {(size or 0) / 2**20:9.1f} "
            f"{'' if hashed is None else hashed:>7}"
        )

    def median(label: str) -> float:
        return statistics.median(e for name, e, *_ in results if name == label)

    first = results[0][1]
    unchanged = median("nothing changed")
    changed = median("1% changed")
    bare_first = bare[0][0]
    bare_unchanged = statistics.median(elapsed for elapsed, _ in bare[1:])
    print()
    print(f"medians of {args.rounds} round(s)")
    print(f"bare restic, unchanged / its first: {bare_unchanged / bare_first:.2f}")
    print(f"nothing changed / first backup: {verdict(unchanged / first, 0.1)}")
    print(f"1% changed / first backup: {verdict(changed / first, 0.15)}")
    print(
        "nothing changed / bare restic unchanged: "
        f"{verdict(unchanged / bare_unchanged, 2)}"
    )
    print(f"repository / tar.zst size: {(results[-1][3] or 0) / tar_size:.2f}")
    print("after the runs:")
    print(machine_report())
    if args.keep:
        print(f"kept {work}")
    else:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
