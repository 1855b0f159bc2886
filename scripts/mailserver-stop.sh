#!/bin/sh
# Stop Postfix, Dovecot and rspamd started by scripts/mailserver-start.sh.
# Stopping a daemon that is not running is not an error. Postfix stops first,
# so that no message meets a missing milter on its way out.
set -eu

POSTFIX_DIR="${MAILPANEL_POSTFIX_DIR:-/etc/postfix}"
DOVECOT_CONF="${MAILPANEL_DOVECOT_DIR:-/etc/dovecot}/dovecot.conf"
RSPAMD_PID="${MAILPANEL_RSPAMD_STATE_DIR:-/var/lib/mailpanel/rspamd}/rspamd.pid"

if postfix -c "$POSTFIX_DIR" status >/dev/null 2>&1; then
    postfix -c "$POSTFIX_DIR" stop
fi
base_dir="$(doveconf -c "$DOVECOT_CONF" -h base_dir 2>/dev/null || true)"
if [ -n "$base_dir" ] && [ -f "$base_dir/master.pid" ] \
    && kill -0 "$(cat "$base_dir/master.pid")" 2>/dev/null; then
    doveadm -c "$DOVECOT_CONF" stop
fi
if [ -f "$RSPAMD_PID" ] && kill -0 "$(cat "$RSPAMD_PID")" 2>/dev/null; then
    kill -TERM "$(cat "$RSPAMD_PID")"
fi
echo "mailserver-stop: stopped"
