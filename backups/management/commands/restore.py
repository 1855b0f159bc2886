"""``manage.py restore RUN_ID``: everything, one domain or one mailbox."""

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from backups import services
from backups.database import DatabaseError
from backups.runs import BackupError
from backups.tool import ToolError


class Command(BaseCommand):
    help = (
        "Restore from a backup: RUN_ID is a backup run's id, a restic snapshot "
        "id or 'latest'. Mail is merged: no other mailbox and no message already "
        "there is touched. --all also replaces the database."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("run_id", metavar="RUN_ID")
        scope = parser.add_mutually_exclusive_group(required=True)
        scope.add_argument(
            "--all",
            action="store_true",
            help="The database, all mail, and missing configuration and keys.",
        )
        scope.add_argument("--domain", metavar="D", help="All mailboxes of D.")
        scope.add_argument("--mailbox", metavar="ADDRESS", help="One mailbox.")
        parser.add_argument(
            "--into-folder",
            metavar="NAME",
            default="",
            help="Put the mail into the folder NAME (Maildir++ .NAME) of each "
            "mailbox instead of where it was.",
        )

    def handle(self, *args, **options) -> None:
        if options["all"] and options["into_folder"]:
            raise CommandError("--into-folder goes with --domain or --mailbox")
        try:
            result = services.backup_restore(
                snapshot=options["run_id"],
                everything=options["all"],
                domain=options["domain"] or "",
                address=options["mailbox"] or "",
                into_folder=options["into_folder"],
                report=self.stdout.write,
            )
        except (
            ImproperlyConfigured,
            BackupError,
            ToolError,
            DatabaseError,
            OSError,
        ) as exc:
            raise CommandError(f"restore failed: {exc}") from None
        database = "database restored, " if result.database_restored else ""
        self.stdout.write(
            f"restored from {result.snapshot_id[:8]}: {database}"
            f"{result.mailboxes} mailbox(es), {result.messages_restored} message(s) "
            f"put back, {result.messages_present} already there"
        )
