#!/bin/sh
# Install Postfix, Dovecot and rspamd (the DKIM signer) from Debian packages
# and prepare the vmail owner, idempotently, as root and without systemd.
# `make mailserver` runs this, then `manage.py mailserver apply`, then
# scripts/mailserver-start.sh.
#
# - apt-get update runs only when a package is missing;
# - Postfix is preseeded "No configuration": mailpanel writes main.cf itself;
# - rspamd runs with mailpanel's own configuration (MAILPANEL_RSPAMD_DIR), so
#   Debian's rspamd service, where systemd started it, is switched off;
# - the vmail user/group get MAILPANEL_VMAIL_UID/GID (default 5000) and own
#   MAILPANEL_VMAIL_ROOT (default /var/vmail), mode 0750.
set -eu

PACKAGES="postfix postfix-pgsql postfix-sqlite dovecot-core dovecot-imapd \
dovecot-pop3d dovecot-lmtpd dovecot-pgsql dovecot-sqlite dovecot-sieve \
dovecot-managesieved libsasl2-modules ssl-cert openssl rspamd"

VMAIL_UID="${MAILPANEL_VMAIL_UID:-5000}"
VMAIL_GID="${MAILPANEL_VMAIL_GID:-5000}"
VMAIL_ROOT="${MAILPANEL_VMAIL_ROOT:-/var/vmail}"

if [ "$(id -u)" -ne 0 ]; then
    echo "mailserver-install: run as root" >&2
    exit 1
fi

missing=""
for package in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null \
        | grep -q "install ok installed"; then
        missing="$missing $package"
    fi
done

if [ -n "$missing" ]; then
    export DEBIAN_FRONTEND=noninteractive
    echo "postfix postfix/main_mailer_type select No configuration" \
        | debconf-set-selections
    echo "postfix postfix/mailname string $(hostname -f 2>/dev/null || hostname)" \
        | debconf-set-selections
    echo "mailserver-install: installing$missing"
    apt-get update -q
    # shellcheck disable=SC2086  # word splitting of the package list is wanted
    apt-get install -y -q --no-install-recommends $missing
else
    echo "mailserver-install: packages already installed"
fi

if ! getent group vmail >/dev/null; then
    groupadd --gid "$VMAIL_GID" vmail
fi
if ! getent passwd vmail >/dev/null; then
    useradd --uid "$VMAIL_UID" --gid "$VMAIL_GID" \
        --home-dir "$VMAIL_ROOT" --no-create-home --shell /usr/sbin/nologin vmail
fi
install -d -o "$VMAIL_UID" -g "$VMAIL_GID" -m 0750 "$VMAIL_ROOT"

# On a systemd host Debian's rspamd.service runs /etc/rspamd on ports 11332 to
# 11334; mailpanel's rspamd would find its milter port taken.
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    systemctl disable --now rspamd.service 2>/dev/null || true
fi

# Debian's packages may have started daemons with their stock configuration
# (policy-rc.d permitting); mailpanel's start script starts them configured.
echo "mailserver-install: done (vmail $VMAIL_UID:$VMAIL_GID, $VMAIL_ROOT)"
