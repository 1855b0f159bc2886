"""``manage.py dnsrecords DOMAIN [--zone]``: the records to publish for a domain.

Without ``--zone``: each record, why it is there and what DNS answers now
(through MAILPANEL_DNS_RESOLVER). With ``--zone``: only the BIND snippet to
paste, without asking DNS about the records themselves.
"""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from domains.addresses import normalize_domain
from domains.models import Domain
from monitoring.records import domain_dns_records
from monitoring.zone import zone_line, zone_snippet


class Command(BaseCommand):
    help = "The DNS records a hosted domain should publish, and what DNS says now."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("domain")
        parser.add_argument(
            "--zone", action="store_true", help="Print only the BIND zone snippet."
        )

    def handle(self, *args, **options) -> None:
        try:
            domain = Domain.objects.get(name=normalize_domain(options["domain"]))
        except (Domain.DoesNotExist, ValidationError):
            raise CommandError(f"{options['domain']} is not a hosted domain.") from None
        records = domain_dns_records(domain, check=not options["zone"])
        if options["zone"]:
            self.stdout.write(zone_snippet(domain.name, records), ending="")
            return
        for record in records:
            where = "" if record.in_zone else " (ask the address's owner)"
            optional = " (optional)" if record.optional else ""
            self.stdout.write(f"{zone_line(record)}{where}{optional}")
            self.stdout.write(f"    {record.purpose}")
            self.stdout.write(f"    DNS now: {record.comparison.describe()}\n")
