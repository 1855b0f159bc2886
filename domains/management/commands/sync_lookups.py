from django.core.management.base import BaseCommand

from domains import lookups


class Command(BaseCommand):
    help = (
        "Rebuild every lookup row that Postfix and Dovecot read "
        "(after changing the vmail root or uid/gid)."
    )

    def handle(self, *args, **options) -> None:
        count = lookups.sync_all()
        self.stdout.write(f"Rebuilt the lookup rows of {count} domain(s).")
