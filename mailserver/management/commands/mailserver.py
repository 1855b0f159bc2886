"""``manage.py mailserver render DIR`` and ``manage.py mailserver apply``."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from mailserver.render import RenderError
from mailserver.services import MailServerError, mailserver_apply, mailserver_render


class Command(BaseCommand):
    help = (
        "Write the Postfix and Dovecot configuration for this database: "
        "'render DIR' into a directory of your choice, 'apply' into the live "
        "directories after validating it (docs/mailserver.md)."
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
        try:
            if options["action"] == "render":
                config = mailserver_render(options["directory"])
                self.stdout.write(
                    f"Wrote {config.postfix_dir} and {config.dovecot_dir}."
                )
            else:
                config = mailserver_apply(reload=not options["no_reload"])
                self.stdout.write(
                    f"Applied to {config.postfix_dir} and {config.dovecot_dir}."
                )
        except (MailServerError, RenderError, OSError) as exc:
            # One readable line; the previous configuration is untouched.
            raise CommandError(str(exc)) from exc
