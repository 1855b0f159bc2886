"""Dovecot's lookup rows become the same for every mail host, and passdb one key.

- userdb rows held an absolute home (and uid/gid) from the settings of
  whichever process rebuilt them, so with two mail hosts the last worker to
  sync a domain wrote its own vmail root for all; they now hold the maildir
  relative to the root, and each host's rendered user_query prepends its own.
- passdb is keyed by one column, ``login`` = "SERVICE:ADDRESS", instead of the
  (username, service) pair: a single-column probe, as for the Postfix maps.

The lookup tables are derived data, so the new columns are filled from the
existing ones and nothing else changes.
"""

from django.db import migrations, models

OLD_VIEWS = {
    "mailpanel_dovecot_passdb": (
        "SELECT username, service, password FROM domains_dovecotlogin"
    ),
    "mailpanel_dovecot_userdb": (
        "SELECT username, home, uid, gid, quota_rule, imap_enabled, pop3_enabled, "
        "smtp_enabled FROM domains_dovecotuser"
    ),
}
NEW_VIEWS = {
    "mailpanel_dovecot_passdb": (
        "SELECT login, username, service, password FROM domains_dovecotlogin"
    ),
    "mailpanel_dovecot_userdb": (
        "SELECT username, maildir, quota_rule, imap_enabled, pop3_enabled, "
        "smtp_enabled FROM domains_dovecotuser"
    ),
}


# Lists, not one string: SQLite runs one statement per execute().
def _views(views: dict[str, str]) -> list[str]:
    return [f"CREATE VIEW {name} AS {query}" for name, query in views.items()]


DROP_VIEWS = [f"DROP VIEW {name}" for name in NEW_VIEWS]


def fill_new_columns(apps, schema_editor) -> None:
    DovecotLogin = apps.get_model("domains", "DovecotLogin")
    DovecotUser = apps.get_model("domains", "DovecotUser")
    logins = list(DovecotLogin.objects.only("username", "service"))
    for row in logins:
        row.login = f"{row.service}:{row.username}"
    DovecotLogin.objects.bulk_update(logins, ["login"], batch_size=1000)
    users = list(DovecotUser.objects.only("username"))
    for row in users:
        local_part, _, domain = row.username.rpartition("@")
        row.maildir = f"{domain}/{local_part}/"
    DovecotUser.objects.bulk_update(users, ["maildir"], batch_size=1000)


class Migration(migrations.Migration):
    dependencies = [("domains", "0002_sql_interface")]

    operations = [
        migrations.RunSQL(sql=DROP_VIEWS, reverse_sql=_views(OLD_VIEWS)),
        migrations.AddField(
            model_name="dovecotlogin",
            name="login",
            field=models.CharField(default="", max_length=272),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="dovecotuser",
            name="maildir",
            field=models.CharField(default="", max_length=320),
            preserve_default=False,
        ),
        migrations.RunPython(fill_new_columns, migrations.RunPython.noop),
        migrations.RemoveConstraint(model_name="dovecotlogin", name="dovecotlogin_key"),
        migrations.AddConstraint(
            model_name="dovecotlogin",
            constraint=models.UniqueConstraint(
                fields=("login",), name="dovecotlogin_login_key"
            ),
        ),
        migrations.RemoveField(model_name="dovecotuser", name="home"),
        migrations.RemoveField(model_name="dovecotuser", name="uid"),
        migrations.RemoveField(model_name="dovecotuser", name="gid"),
        migrations.RunSQL(sql=_views(NEW_VIEWS), reverse_sql=DROP_VIEWS),
    ]
