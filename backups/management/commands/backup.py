"""``manage.py backup``: take a backup now (or init, prune, check, drill)."""

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from backups import services
from backups.models import BackupRun, State
from backups.runs import BackupError
from backups.tool import Progress, ToolError
from domains.sizes import format_bytes


class Command(BaseCommand):
    help = "Take a backup now; --init, --prune, --check or --drill instead."

    def add_arguments(self, parser) -> None:
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--init", action="store_true", help="Create the repository.")
        group.add_argument(
            "--prune", action="store_true", help="Apply the retention policy."
        )
        group.add_argument(
            "--check", action="store_true", help="Check the repository's integrity."
        )
        group.add_argument(
            "--drill",
            action="store_true",
            help="Restore the newest backup and verify it.",
        )

    def handle(self, *args, **options) -> None:
        try:
            if options["init"]:
                created = services.backup_init()
                self.stdout.write(
                    "repository created" if created else "repository already exists"
                )
                return
            if options["drill"]:
                drill = services.restore_drill()
                if drill.state != State.SUCCEEDED:
                    raise CommandError(f"restore drill failed: {drill.error}")
                self.stdout.write(
                    f"restore drill #{drill.pk} passed: database loaded, "
                    f"{drill.mailboxes_checked} mailboxes and "
                    f"{drill.messages_checked} messages match the manifest"
                )
                return
            if options["prune"]:
                run = services.backup_prune()
            elif options["check"]:
                run = services.backup_check()
            else:
                run = services.backup_run(on_progress=self._progress)
        except (ImproperlyConfigured, BackupError, ToolError) as exc:
            raise CommandError(str(exc)) from None
        self._result(run)

    def _progress(self, run: BackupRun, report: Progress) -> None:
        self.stdout.write(
            f"{report.percent:4.0%}  {report.files_done}/{report.total_files} files  "
            f"{format_bytes(report.bytes_done)}/{format_bytes(report.total_bytes)}"
        )

    def _result(self, run: BackupRun) -> None:
        if run.state == State.FAILED:
            raise CommandError(f"{run.kind} #{run.pk} failed: {run.error}")
        if run.kind == BackupRun.Kind.BACKUP:
            # A remote repository is sized by prune runs only.
            size = (
                "size not measured"
                if run.repository_size is None
                else format_bytes(run.repository_size)
            )
            self.stdout.write(
                f"backup #{run.pk} {run.state}: snapshot {run.snapshot_id[:8]}, "
                f"{format_bytes(run.bytes_added or 0)} added, repository "
                f"{size}, "
                f"{run.details.get('mailboxes', 0)} mailboxes, "
                f"{run.details.get('messages', 0)} messages"
            )
        else:
            self.stdout.write(f"{run.kind} #{run.pk} {run.state}")
        if run.state == State.PARTIAL:
            raise CommandError(f"backup #{run.pk} is incomplete: {run.error}")
