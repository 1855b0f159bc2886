#!/bin/sh
# Start (or reload) rspamd, Postfix and Dovecot with the configuration that
# `manage.py mailserver apply` wrote, as root and without systemd.
# Idempotent: a running daemon is reloaded instead of started twice.
#
# rspamd (the DKIM signer, Postfix's milter) starts first: while it is down,
# submission answers 4xx. MAILPANEL_RSPAMD_MILTER_LISTEN set to "" turns
# signing off, and then rspamd is not started.
set -eu

POSTFIX_DIR="${MAILPANEL_POSTFIX_DIR:-/etc/postfix}"
DOVECOT_CONF="${MAILPANEL_DOVECOT_DIR:-/etc/dovecot}/dovecot.conf"
RSPAMD_CONF="${MAILPANEL_RSPAMD_DIR:-/etc/mailpanel/rspamd}/rspamd.conf"
RSPAMD_PID="${MAILPANEL_RSPAMD_STATE_DIR:-/var/lib/mailpanel/rspamd}/rspamd.pid"
RSPAMD_MILTER="${MAILPANEL_RSPAMD_MILTER_LISTEN-unix:private/rspamd-milter}"

if [ "$(id -u)" -ne 0 ]; then
    echo "mailserver-start: run as root" >&2
    exit 1
fi

# The daemons inherit the file descriptors of whoever starts them: a caller
# reading our output through a pipe (make ... | tail, CI) would wait for them
# to exit. So each start writes to a file, which is shown afterwards.
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
run_detached() {
    if "$@" </dev/null >"$log" 2>&1; then
        cat "$log"
    else
        cat "$log" >&2
        return 1
    fi
}

started="Postfix ($POSTFIX_DIR) and Dovecot ($DOVECOT_CONF)"
if [ -n "$RSPAMD_MILTER" ]; then
    # Workers drop to Debian's _rspamd; the first start on a machine compiles
    # rspamd's URL matchers (about 10 s), later ones reuse them.
    if [ -f "$RSPAMD_PID" ] && kill -0 "$(cat "$RSPAMD_PID")" 2>/dev/null; then
        kill -HUP "$(cat "$RSPAMD_PID")"
    else
        run_detached rspamd -c "$RSPAMD_CONF" -u _rspamd -g _rspamd
    fi
    started="rspamd ($RSPAMD_CONF), $started"
fi

if postfix -c "$POSTFIX_DIR" status >/dev/null 2>&1; then
    run_detached postfix -c "$POSTFIX_DIR" reload
else
    run_detached postfix -c "$POSTFIX_DIR" start
fi

base_dir="$(doveconf -c "$DOVECOT_CONF" -h base_dir)"
if [ -f "$base_dir/master.pid" ] && kill -0 "$(cat "$base_dir/master.pid")" 2>/dev/null; then
    run_detached doveadm -c "$DOVECOT_CONF" reload
else
    run_detached dovecot -c "$DOVECOT_CONF"
fi
echo "mailserver-start: $started running"
