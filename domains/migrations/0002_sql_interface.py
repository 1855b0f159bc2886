"""The SQL interface that Postfix and Dovecot read (docs/sql-interface.md).

These views are the contract with the mail server configuration: their names
and columns stay the same when the tables behind them change. Each is a plain
projection of one lookup table so that PostgreSQL and SQLite both inline it
into a single index probe. Plain SQL that both databases accept.
"""

from django.db import migrations

VIEWS = {
    "mailpanel_virtual_domains": "SELECT name AS domain FROM domains_postfixdomain",
    "mailpanel_virtual_mailboxes": (
        "SELECT address, maildir FROM domains_postfixmailbox"
    ),
    "mailpanel_virtual_aliases": (
        "SELECT address, destination FROM domains_postfixalias"
    ),
    "mailpanel_sender_logins": "SELECT address, login FROM domains_postfixsenderlogin",
    "mailpanel_recipient_access": (
        "SELECT address, action FROM domains_postfixrecipientaccess"
    ),
    "mailpanel_dovecot_passdb": (
        "SELECT username, service, password FROM domains_dovecotlogin"
    ),
    "mailpanel_dovecot_userdb": (
        "SELECT username, home, uid, gid, quota_rule, imap_enabled, pop3_enabled, "
        "smtp_enabled FROM domains_dovecotuser"
    ),
}


class Migration(migrations.Migration):
    dependencies = [("domains", "0001_initial")]

    operations = [
        migrations.RunSQL(
            sql=f"CREATE VIEW {name} AS {query}",
            reverse_sql=f"DROP VIEW {name}",
        )
        for name, query in VIEWS.items()
    ]
