"""``manage.py mailserver render DIR`` and ``manage.py mailserver apply``.

Both render the same configuration a mail host's worker applies
(``mailserver.hosts.effective_config()``): settings.py with the admin's
``MailServerSettings`` on top, so a hand-run ``apply`` never undoes an edit
made in the admin. A database that has not been migrated yet has no such
edits, and settings.py alone is the configuration.
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, connection

from mailserver.hosts import effective_config
from mailserver.models import MailServerSettings
from mailserver.render import MailServerConfig, RenderError
from mailserver.services import MailServerError, mailserver_apply, mailserver_render


def _config() -> MailServerConfig:
    try:
        if (
            MailServerSettings._meta.db_table
            not in connection.introspection.table_names()
        ):
            return MailServerConfig.from_settings()
        return effective_config()
    except DatabaseError as exc:
        raise CommandError(
            f"Cannot read the mail server settings from the database: {exc}"
        ) from exc


class Command(BaseCommand):
    help = (
        "Write the Postfix and Dovecot configuration for this database: "
        "'render DIR' into a directory of your choice, 'apply' into the live "
        "directories after validating it (docs/mailserver.md). Both use the "
        "admin's mail server settings on top of settings.py, as the workers do."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        render = sub.add_parser("render", help="Write DIR/postfix and DIR/dovecot.")
        render.add_argument("directory", type=Path)
        apply = sub.add_parser(
            "apply", help="Validate, then swap into MAILPANEL_POSTFIX_DIR/DOVECOT_DIR."
        )
        apply.add_argument(
            "--no-reload",
            action="store_true",
            help="Do not reload a running Postfix or Dovecot afterwards.",
        )

    def handle(self, *args, **options) -> None:
        config = _config()
        try:
            if options["action"] == "render":
                config = mailserver_render(options["directory"], config)
                self.stdout.write(
                    f"Wrote {config.postfix_dir} and {config.dovecot_dir}."
                )
            else:
                config = mailserver_apply(config, reload=not options["no_reload"])
                self.stdout.write(
                    f"Applied to {config.postfix_dir} and {config.dovecot_dir}."
                )
        except (MailServerError, RenderError, OSError) as exc:
            # One readable line; the previous configuration is untouched.
            raise CommandError(str(exc)) from exc
