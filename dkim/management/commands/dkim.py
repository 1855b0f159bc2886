"""``manage.py dkim generate|rotate|import|activate|list``: DKIM keys by hand.

Every subcommand calls dkim.services, as the admin does. A refusal exits with
status 1 and one line saying why (CommandError); no key material is ever
printed, only selectors and the public records to publish.
"""

from __future__ import annotations

import sys
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from dkim import services
from dkim.keys import RSA_DEFAULT_BITS, txt_strings
from dkim.models import DkimKey

ALGORITHMS = ["rsa", "ed25519"]


def one_line(error: ValidationError) -> str:
    """Every message of a ValidationError on one line, by field."""
    if hasattr(error, "error_dict"):
        return "; ".join(
            f"{field.replace('_', ' ')}: {' '.join(messages)}"
            for field, messages in error.message_dict.items()
        )
    return " ".join(error.messages)


class Command(BaseCommand):
    help = (
        "Manage the DKIM keys of the hosted domains (docs/dkim.md): generate, "
        "rotate, import, activate and list them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        generate = sub.add_parser(
            "generate", help="A domain's first keys: RSA and Ed25519, pending."
        )
        generate.add_argument("domain")
        rotate = sub.add_parser(
            "rotate", help="New pending keys that take over once published."
        )
        rotate.add_argument("domain")
        for command in (generate, rotate):
            command.add_argument(
                "--algorithm",
                choices=ALGORITHMS,
                action="append",
                help="Only this algorithm (repeatable). Default: both.",
            )
            command.add_argument(
                "--bits",
                type=int,
                help=f"RSA key size: 2048, 3072 or 4096 (default {RSA_DEFAULT_BITS}).",
            )
        imported = sub.add_parser(
            "import", help="An existing private key (PEM) with its selector."
        )
        imported.add_argument("domain")
        imported.add_argument("selector")
        imported.add_argument("pemfile", help="The PEM file, or - for stdin.")
        activate = sub.add_parser(
            "activate", help="Make a pending key sign, once DNS serves its record."
        )
        activate.add_argument("domain")
        activate.add_argument("selector")
        activate.add_argument(
            "--force",
            action="store_true",
            help="Do not wait for DNS: receivers fail the signatures until the "
            "record is published.",
        )
        listing = sub.add_parser("list", help="Keys and their records.")
        listing.add_argument("domain", nargs="?")

    def handle(self, *args, **options) -> None:
        try:
            getattr(self, f"_{options['action']}")(options)
        except services.DkimError as exc:
            raise CommandError(str(exc)) from None
        except ValidationError as exc:
            raise CommandError(one_line(exc)) from None

    def _generate(self, options: dict) -> None:
        domain = services.domain_get(name=options["domain"])
        self._created(
            services.dkim_key_generate(
                domain=domain,
                algorithms=options["algorithm"],
                bits=options["bits"] or RSA_DEFAULT_BITS,
            )
        )

    def _rotate(self, options: dict) -> None:
        domain = services.domain_get(name=options["domain"])
        self._created(
            services.dkim_key_rotate(
                domain=domain, algorithms=options["algorithm"], bits=options["bits"]
            )
        )

    def _import(self, options: dict) -> None:
        domain = services.domain_get(name=options["domain"])
        name = options["pemfile"]
        try:
            data = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {name}: {exc.strerror}.") from None
        key = services.dkim_key_import(
            domain=domain, selector=options["selector"], pem=data
        )
        self._created([key])

    def _activate(self, options: dict) -> None:
        domain = services.domain_get(name=options["domain"])
        selector = options["selector"].strip().lower()
        key = DkimKey.objects.filter(domain=domain, selector=selector).first()
        if key is None:
            raise CommandError(
                f"{domain.name} has no key with the selector {selector}."
            )
        key = services.dkim_key_activate(key=key, force=options["force"])
        self.stdout.write(f"{key.record_name} is active: the mail hosts sign with it.")

    def _list(self, options: dict) -> None:
        rows = DkimKey.objects.select_related("domain").order_by(
            "domain__name", "algorithm", "created"
        )
        if options["domain"]:
            rows = rows.filter(domain=services.domain_get(name=options["domain"]))
        for key in rows:
            dates = f"created {key.created:%Y-%m-%d}"
            if key.activated:
                dates += f", active since {key.activated:%Y-%m-%d}"
            if key.state == DkimKey.State.RETIRING:
                dates += f", published until {key.retire_after:%Y-%m-%d}"
            if key.retired:
                dates += f", retired {key.retired:%Y-%m-%d}"
            self.stdout.write(
                f"{key.domain.name}\t{key.selector}\t{key.algorithm}\t{key.bits}\t"
                f"{key.state}\t{dates}"
            )

    def _created(self, keys: list[DkimKey]) -> None:
        for key in keys:
            strings = " ".join(f'"{s}"' for s in txt_strings(key.dns_record))
            self.stdout.write(
                f"{key.record_name}: new {key.get_algorithm_display()} key, pending. "
                f"Publish this TXT record:\n  {key.record_name}. TXT {strings}"
            )
        if keys:
            self.stdout.write(
                "Each key starts signing once DNS serves its record (checked "
                "hourly), or with `manage.py dkim activate DOMAIN SELECTOR`."
            )
