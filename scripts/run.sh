#!/usr/bin/env bash
# The quick start's processes, for `make run`: Django's development server on
# HOST:PORT (127.0.0.1:8000 by default), one Celery worker and Celery beat.
#
# They live and die together. Ctrl-C or TERM stops all three, and when any one
# exits the others are stopped too, so that a worker or beat never lingers
# behind a dead web server or the reverse. Expects the venv, the migrated database and a
# reachable broker (the Makefile sees to them).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

host=${HOST:-127.0.0.1}
port=${PORT:-8000}
# Print log lines as they come, not when a pipe's buffer fills.
export PYTHONUNBUFFERED=1

pids=()

stop() {
    trap - INT TERM
    ((${#pids[@]})) || return 0
    # Each process leads its own process group (setsid below), which also holds
    # runserver's autoreloading child and the worker's pool process: signal the
    # groups, not only their leaders.
    local groups=("${pids[@]/#/-}")
    kill -TERM -- "${groups[@]}" 2>/dev/null || true
    # A warm shutdown lets the worker finish the task at hand; give it 10 s.
    local deadline=$((SECONDS + 10))
    while ((SECONDS < deadline)) && [[ -n $(jobs -rp) ]]; do
        sleep 0.2
    done
    kill -KILL -- "${groups[@]}" 2>/dev/null || true
    wait || true
}

# A stop that was asked for is a success, as it is for runserver alone.
trap 'stop; exit 0' INT TERM

# setsid: in their own sessions, the children get no Ctrl-C from the terminal;
# this script alone decides when and how they stop.
setsid .venv/bin/python manage.py runserver "$host:$port" &
pids+=("$!")
setsid .venv/bin/celery -A mailpanel worker -l info --concurrency 1 &
pids+=("$!")
# Schedules come from the database (editable in the admin); no state file.
setsid .venv/bin/celery -A mailpanel beat -l info &
pids+=("$!")

status=0
wait -n || status=$?
printf 'run.sh: a process exited with status %s; stopping the others\n' "$status" >&2
stop
exit "$status"
