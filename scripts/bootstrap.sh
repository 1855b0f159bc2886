#!/usr/bin/env bash
# Make this machine ready for mailpanel: the virtualenv and, on request, the
# services the tests and the quick start talk to. Called by the Makefile.
#
#   scripts/bootstrap.sh [--requirements FILE] [--services] [--redis]
#
#   --requirements FILE  create .venv if needed and install FILE into it, again
#                        only when FILE or requirements.txt changed (a digest
#                        stamp in .venv says what was installed)
#   --services           PostgreSQL on 127.0.0.1:5432 and Redis on
#                        127.0.0.1:6379, for the tests
#   --redis              only Redis, for the Celery worker of `make run`; skipped
#                        when CELERY_BROKER_URL names another broker
#
# A service that already answers is left alone. One that does not is started,
# and installed first from Debian's packages if missing (as root only). On a
# PostgreSQL installed here, TCP connections from this machine are trusted
# (pg_hba.conf), as on the CI machines: this is for development and CI
# machines, never for a mail host. No systemd is needed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON=${PYTHON:-python3}
VENV=.venv
DEFAULT_BROKER=redis://127.0.0.1:6379/0

say() { printf 'bootstrap: %s\n' "$*"; }
die() {
    printf 'bootstrap: %s\n' "$*" >&2
    exit 1
}

apt_updated=false

# Run a command with its output kept aside, and shown only if it fails.
quietly() {
    local log status=0
    log=$(mktemp)
    "$@" >"$log" 2>&1 || status=$?
    if ((status != 0)); then
        cat "$log" >&2
        rm -f "$log"
        die "failed (exit $status): $*"
    fi
    rm -f "$log"
}

apt_install() {
    if ((EUID != 0)); then
        die "missing Debian packages: $*; install them as root (apt-get install $*)"
    fi
    say "installing Debian packages: $* (apt's output is shown if it fails)"
    export DEBIAN_FRONTEND=noninteractive
    if ! $apt_updated; then
        quietly apt-get update
        apt_updated=true
    fi
    quietly apt-get install -y --no-install-recommends "$@"
}

# Wait up to 30 s for a check to pass.
wait_for() {
    local _
    for _ in {1..60}; do
        "$@" && return 0
        sleep 0.5
    done
    return 1
}

# --- Python ------------------------------------------------------------------

ensure_python() {
    local packages=()
    command -v "$PYTHON" >/dev/null || packages+=(python3)
    # Debian keeps ensurepip, which `python3 -m venv` needs, in python3-venv.
    if [[ ${#packages[@]} -gt 0 ]] || ! "$PYTHON" -c 'import ensurepip' 2>/dev/null; then
        packages+=(python3-venv)
    fi
    if [[ ${#packages[@]} -gt 0 ]]; then
        apt_install "${packages[@]}"
    fi
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' ||
        die "$PYTHON is $("$PYTHON" -V 2>&1); Django 5.2 needs Python 3.10 or newer"
}

ensure_venv() {
    local requirements=$1 stamp digest
    [[ -f $requirements ]] || die "no such requirements file: $requirements"
    if ! "$VENV/bin/python" -c '' 2>/dev/null; then
        ensure_python
        say "creating $VENV with $("$PYTHON" -V 2>&1)"
        # --clear: a venv whose interpreter went away is rebuilt, stamps and all.
        "$PYTHON" -m venv --clear "$VENV"
    fi
    stamp="$VENV/.installed-$(basename "$requirements" .txt)"
    # requirements.txt is hashed too: the dev file includes it with -r.
    digest=$(cat requirements.txt "$requirements" | sha256sum)
    if [[ -f $stamp && $(<"$stamp") == "$digest" ]]; then
        return
    fi
    say "installing $requirements into $VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        -r "$requirements"
    # A set that installs may still be inconsistent (a pin that another
    # package's requirement excludes): refuse it here, not at run time.
    "$VENV/bin/python" -m pip check --disable-pip-version-check >/dev/null ||
        die "pip check: $("$VENV/bin/python" -m pip check 2>&1 | head -n 3)"
    printf '%s\n' "$digest" >"$stamp"
}

# --- PostgreSQL ----------------------------------------------------------------

postgres_answers() {
    if command -v pg_isready >/dev/null; then
        pg_isready --quiet --host 127.0.0.1 --port 5432
    else
        timeout 2 bash -c ': <>/dev/tcp/127.0.0.1/5432' 2>/dev/null
    fi
}

postgres_version() {
    # The newest cluster configured on this machine, if any.
    local conf
    conf=$(find /etc/postgresql -mindepth 3 -maxdepth 3 -path '*/main/postgresql.conf' \
        2>/dev/null | sort -V | tail -n 1)
    [[ -n $conf ]] && basename "$(dirname "$(dirname "$conf")")"
}

trust_local_connections() {
    local hba=$1 marker='# mailpanel bootstrap: trust TCP from this machine'
    grep -qF "$marker" "$hba" && return 1
    say "trusting TCP connections from 127.0.0.1 and ::1 in $hba"
    # First matching line wins, so these go above Debian's scram-sha-256 lines.
    # Written through the existing file to keep its owner and mode.
    local original
    original=$(<"$hba")
    {
        printf '%s (development and CI only)\n' "$marker"
        printf 'host    all    all    127.0.0.1/32    trust\n'
        printf 'host    all    all    ::1/128         trust\n\n'
        printf '%s\n' "$original"
    } >"$hba"
}

ensure_postgres() {
    local version installed=false configured=false
    if postgres_answers; then
        say "PostgreSQL answers on 127.0.0.1:5432"
        return
    fi
    version=$(postgres_version) || true
    if [[ -z $version ]]; then
        apt_install postgresql
        installed=true
        version=$(postgres_version) || die "no PostgreSQL cluster after installing postgresql"
    fi
    ((EUID == 0)) || die "PostgreSQL $version is not running; start it as root:" \
        "pg_ctlcluster --skip-systemctl-redirect $version main start"
    if $installed && trust_local_connections "/etc/postgresql/$version/main/pg_hba.conf"; then
        configured=true
    fi
    if postgres_answers; then
        # The package's own scripts may have started it already.
        if $configured; then
            pg_ctlcluster --skip-systemctl-redirect "$version" main reload
        fi
    else
        say "starting PostgreSQL $version"
        pg_ctlcluster --skip-systemctl-redirect "$version" main start
    fi
    wait_for postgres_answers || die "PostgreSQL $version did not answer on 127.0.0.1:5432"
    say "PostgreSQL $version answers on 127.0.0.1:5432"
}

check_postgres_login() {
    # The tests connect as postgres without a password (tests/settings.py).
    command -v psql >/dev/null || return 0
    PGCONNECT_TIMEOUT=5 psql --host 127.0.0.1 --username postgres --dbname postgres \
        --no-password --quiet --tuples-only --command 'SELECT 1' >/dev/null ||
        die "PostgreSQL on 127.0.0.1:5432 refused user postgres without a password;" \
            "trust 127.0.0.1 in pg_hba.conf, or set PGPASSWORD"
}

# --- Redis ---------------------------------------------------------------------

redis_answers() {
    # A PING by hand, so that no redis-cli is needed to find out.
    # shellcheck disable=SC2016  # expanded by the inner bash
    timeout 2 bash -c '
        exec 3<>/dev/tcp/127.0.0.1/6379 || exit 1
        printf "PING\r\n" >&3
        IFS= read -r reply <&3
        [[ $reply == +PONG* ]]
    ' 2>/dev/null
}

ensure_redis() {
    if redis_answers; then
        say "Redis answers on 127.0.0.1:6379"
        return
    fi
    if ! command -v redis-server >/dev/null; then
        apt_install redis-server
        # The package's own scripts may have started it already.
        if redis_answers; then
            say "Redis answers on 127.0.0.1:6379"
            return
        fi
    fi
    say "starting redis-server on 127.0.0.1:6379 (nothing kept on disk)"
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 \
        --save "" --appendonly no >/dev/null
    wait_for redis_answers || die "redis-server did not answer on 127.0.0.1:6379"
    say "Redis answers on 127.0.0.1:6379"
}

broker_is_local_redis() {
    case ${CELERY_BROKER_URL:-$DEFAULT_BROKER} in
    redis://127.0.0.1:6379 | redis://127.0.0.1:6379/* | redis://localhost:6379 | redis://localhost:6379/*)
        return 0
        ;;
    esac
    return 1
}

# --- Main ------------------------------------------------------------------------

main() {
    local requirements="" services=false redis=false
    while (($#)); do
        case $1 in
        --requirements)
            [[ $# -ge 2 ]] || die "--requirements needs a file"
            requirements=$2
            shift
            ;;
        --services) services=true ;;
        --redis) redis=true ;;
        *) die "unknown argument: $1 (see the top of $0)" ;;
        esac
        shift
    done

    if $services; then
        ensure_postgres
        check_postgres_login
        ensure_redis
    elif $redis; then
        if broker_is_local_redis; then
            ensure_redis
        else
            say "CELERY_BROKER_URL names another broker; not starting Redis"
        fi
    fi
    if [[ -n $requirements ]]; then
        ensure_venv "$requirements"
    fi
}

main "$@"
