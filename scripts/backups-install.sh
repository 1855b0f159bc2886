#!/usr/bin/env bash
# Install what mailpanel's backups run: restic, pg_dump/pg_restore and zstd
# (bench/backup.py compares with `tar --zstd`), from Debian's packages.
# Idempotent: installs only what is missing, and runs apt-get update at most
# once. The Makefile calls it before the tests; a mail host runs it once.
set -euo pipefail

say() { printf 'backups-install: %s\n' "$*"; }

missing=()
command -v restic >/dev/null || missing+=(restic)
command -v pg_dump >/dev/null || missing+=(postgresql-client)
command -v pg_restore >/dev/null || missing+=(postgresql-client)
command -v zstd >/dev/null || missing+=(zstd)
# `mount -t tmpfs` for the disk-full test comes with util-linux (Essential).

if ((${#missing[@]} == 0)); then
    say "restic $(restic version | awk '{print $2}') and the PostgreSQL client are installed"
    exit 0
fi
if ((EUID != 0)); then
    say "missing Debian packages: ${missing[*]}; install them as root" >&2
    exit 1
fi
mapfile -t packages < <(printf '%s\n' "${missing[@]}" | sort -u)
say "installing Debian packages: ${packages[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends -o Dpkg::Use-Pty=0 "${packages[@]}"
restic version
