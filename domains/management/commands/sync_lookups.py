from django.core.management.base import BaseCommand

from domains import lookups


class Command(BaseCommand):
    help = (
        "Rebuild every lookup row that Postfix and Dovecot read "
        "(after a restore, or to repair hand-edited rows)."
    )

    def handle(self, *args, **options) -> None:
        count = lookups.sync_all()
        self.stdout.write(f"Rebuilt the lookup rows of {count} domain(s).")
