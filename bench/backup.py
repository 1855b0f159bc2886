"""Time mailpanel's backups of a generated maildir tree against `tar --zstd`.

Generates 10,000 messages (200 mailboxes in 20 domains, sizes spread like
real mail: mostly text of a few KiB, some with base64 attachments), then times
the whole ``backups.services.backup_run()`` (database dump, freezing the
maildirs, the manifest, restic) three times:

1. the first backup into an empty repository,
2. a second one with nothing changed,
3. a third after 1% of the messages changed the way mail does: half of them
   read or flagged (renamed), a quarter expunged, a quarter newly delivered.

``tar --zstd`` of the same tree is the floor for a full copy. Everything runs
in a temporary directory on SQLite, so no service is needed but restic and
zstd (scripts/backups-install.sh).

Run from the project root: ``.venv/bin/python bench/backup.py [--messages N]``.
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import shutil
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


def change(paths: list[Path], share: float, rng: random.Random) -> int:
    chosen = rng.sample(range(len(paths)), int(len(paths) * share))
    serial = 10_000_000
    for i, index in enumerate(chosen):
        path = paths[index]
        if i % 4 in (0, 1):  # read or flagged: a rename
            flagged = path.parent.parent / "cur" / (path.name.split(":")[0] + ":2,FS")
            os.rename(path, flagged)
        elif i % 4 == 2:  # expunged
            path.unlink()
        else:  # a new delivery
            serial += 1
            deliver(path.parent.parent, body(rng, serial), serial, "new")
    return len(chosen)


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
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

    services.backup_init()
    results = []
    for label in ("first backup", "nothing changed", "1% changed"):
        if label == "1% changed":
            print(f"changed {change(paths, 0.01, rng)} messages")
        started = time.perf_counter()
        run = services.backup_run()
        elapsed = time.perf_counter() - started
        if run.state != "succeeded":
            sys.exit(f"{label}: {run.state}: {run.error}")
        results.append((label, elapsed, run.bytes_added, run.repository_size))

    print()
    print(f"{'':18} {'seconds':>8} {'x tar':>7} {'added MiB':>10} {'repo MiB':>9}")
    print(
        f"{'tar --zstd':18} {tar_time:8.2f} {1.0:7.2f} {'':>10} {tar_size / 2**20:9.1f}"
    )
    for label, elapsed, added, size in results:
        print(
            f"{label:18} {elapsed:8.2f} {elapsed / tar_time:7.2f} "
            f"{(added or 0) / 2**20:10.2f} {(size or 0) / 2**20:9.1f}"
        )
    first = results[0][1]
    print()
    for label, elapsed, _, _ in results[1:]:
        print(f"{label}: {elapsed / first:.2f} of the first backup's time")
    print(f"repository / tar.zst size: {(results[-1][3] or 0) / tar_size:.2f}")
    if args.keep:
        print(f"kept {work}")
    else:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
