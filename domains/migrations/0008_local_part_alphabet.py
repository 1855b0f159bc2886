"""Mailbox and alias names: one alphabet, checked by the database too.

Local parts may only hold a-z, 0-9 and . _ - (docs/addresses.md); the
checks replace the ones that only asked for lower case. Rows that break the
rule are never changed here: renaming a mailbox is the administrator's call,
and its old address may be printed on business cards. The migration stops
instead, naming each one, before anything is altered. Such mailboxes could
never log in or receive mail (Dovecot refused their names), so they own no
maildir; deleting or renaming them in the admin leaves every maildir alone
(mailserver.lifecycle), after which the migration can run again.
"""

from django.core.management.base import CommandError
from django.db import migrations, models

import domains.constraints
from domains.addresses import is_hosted_local_part

MESSAGE = "A mailbox or alias name may only have letters, digits and . _ - (docs/addresses.md)."


def refuse_rows_outside_the_alphabet(apps, schema_editor) -> None:
    found = []
    for model_name, kind in (("Mailbox", "mailbox"), ("Alias", "alias")):
        rows = apps.get_model("domains", model_name).objects.order_by("pk")
        for pk, local_part, domain in rows.values_list(
            "pk", "local_part", "domain__name"
        ).iterator():
            if kind == "alias" and local_part == "":
                continue  # a catch-all
            if not is_hosted_local_part(local_part):
                found.append(f"  {kind} {pk}: {local_part!r}@{domain}")
    if found:
        raise CommandError(
            "These mailbox and alias names use characters outside the allowed "
            "alphabet (a-z, 0-9 and . _ -, see docs/addresses.md):\n"
            + "\n".join(found)
            + "\nNothing was changed. Rename or delete them in the admin (their "
            "maildirs are left alone), then run migrate again."
        )


class Migration(migrations.Migration):
    dependencies = [
        ("domains", "0007_alias_search_indexes"),
    ]

    operations = [
        migrations.RunPython(
            refuse_rows_outside_the_alphabet, migrations.RunPython.noop
        ),
        migrations.RemoveConstraint(
            model_name="alias",
            name="alias_local_part_lowercase",
        ),
        migrations.RemoveConstraint(
            model_name="mailbox",
            name="mailbox_local_part_lowercase",
        ),
        migrations.AddConstraint(
            model_name="alias",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("local_part", ""),
                    domains.constraints.IsHostedLocalPart("local_part"),
                    _connector="OR",
                ),
                name="alias_local_part_hosted",
                violation_error_message=MESSAGE,
            ),
        ),
        migrations.AddConstraint(
            model_name="mailbox",
            constraint=models.CheckConstraint(
                condition=models.Q(domains.constraints.IsHostedLocalPart("local_part")),
                name="mailbox_local_part_hosted",
                violation_error_message=MESSAGE,
            ),
        ),
    ]
