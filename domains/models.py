"""The mail data model: the single source of truth for Postfix and Dovecot.

Postfix and Dovecot never read these tables. They read the lookup tables in
``domains.lookups`` through the SQL views documented in docs/sql-interface.md;
``lookups.sync_domain()`` rebuilds a domain's rows whenever one of the models
below is saved or deleted, in the same transaction, so the mail server sees a
change at its next lookup and never half of it.
"""

import importlib
from collections.abc import Iterable
from types import ModuleType

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Q, Sum
from django.db.models.functions import Length, Lower
from django.utils import timezone

from domains import passwords
from domains.addresses import (
    MAX_ADDRESS,
    display_domain,
    normalize_domain,
    normalize_hosted_local_part,
    parse_address_list,
)
from domains.constraints import IsHostedLocalPart

UNLIMITED = 0

LOCAL_PART_CHECK_MESSAGE = (
    "A mailbox or alias name may only have letters, digits and . _ - "
    "(docs/addresses.md)."
)


def mailbox_hooks() -> ModuleType | None:
    """The module named by ``MAILPANEL_MAILBOX_HOOKS``, or None.

    Renaming or deleting a mailbox, or renaming its domain, also has work
    on disk, done by another app (mailserver.lifecycle). Imported by name,
    late, so that domains depends on no other app of ours (docs/workers.md).
    """
    path = getattr(settings, "MAILPANEL_MAILBOX_HOOKS", "")
    return importlib.import_module(path) if path else None


def address_length_error(local_part: str, names: Iterable[str]) -> str | None:
    """Why ``local_part`` at the longest of ``names`` is too long, or None.

    Every hosted name of a domain (its own and its alias domains') is a key
    of the lookup rows, varchar(254) like the addresses SMTP allows.
    """
    longest = max(names, key=len, default="")
    length = len(local_part) + 1 + len(longest)
    if length <= MAX_ADDRESS:
        return None
    return (
        f"The address {local_part}@{display_domain(longest)} would have {length} "
        f"characters; SMTP allows at most {MAX_ADDRESS}."
    )


def hosted_names(domain: "Domain") -> list[str]:
    """``domain``'s name and its alias domains' (on or off: either may change)."""
    return [domain.name, *domain.alias_domains.values_list("name", flat=True)]


def longest_local_part(domain: "Domain") -> str:
    """The longest local part among ``domain``'s mailboxes and aliases."""
    found = [
        rows.annotate(length=Length("local_part"))
        .order_by("-length")
        .values_list("local_part", flat=True)
        .first()
        or ""
        for rows in (Mailbox.objects.filter(domain=domain), domain.aliases.all())
    ]
    return max(found, key=len)


def check_expansion(override: dict[str, list[str]]) -> None:
    """Refuse a change after which an address would expand too far.

    ``override``: the ``virtual_alias_maps`` rows the change writes, as in
    ``domains.lookups``. Postfix defers every message to an address that
    expands past its limit, rendered from the same setting (domains.expansion).
    """
    from domains.expansion import expansion_too_large

    limit = settings.MAILPANEL_ALIAS_EXPANSION_LIMIT
    found = expansion_too_large(override, limit=limit)
    if found is None:
        return
    address, count = found
    if address.startswith("@"):
        address = (
            f"an address of {display_domain(address[1:])} without a row of its own"
        )
    raise ValidationError(
        {
            "destinations": f"Mail to {address} would go to {count} addresses; "
            f"at most {limit} are allowed."
        }
    )


class LookupSyncMixin(models.Model):
    """Keeps the lookup tables of the owning domain in step with this row."""

    class Meta:
        abstract = True

    def save(self, *args, **kwargs) -> None:
        with transaction.atomic():
            before = set()
            if self.pk is not None:
                old = type(self).objects.filter(pk=self.pk).first()
                before = old.lookup_domain_ids() if old else set()
            super().save(*args, **kwargs)
            lookups.sync_domains(before | self.lookup_domain_ids())

    def delete(self, *args, **kwargs):
        with transaction.atomic():
            domain_ids = self.lookup_domain_ids()
            result = super().delete(*args, **kwargs)
            lookups.sync_domains(domain_ids)
        return result

    def lookup_domain_ids(self) -> set[int]:
        """The domains whose lookup rows depend on this row."""
        return {self.domain_id}


class Domain(models.Model):
    """A domain whose mail this server accepts and stores."""

    name = models.CharField(
        max_length=253,
        unique=True,
        help_text="Stored in IDNA (punycode) form; enter it in any form.",
    )
    active = models.BooleanField(default=True)
    description = models.CharField(max_length=255, blank=True)
    max_mailboxes = models.PositiveIntegerField(
        default=UNLIMITED, help_text="0 means no limit."
    )
    max_aliases = models.PositiveIntegerField(
        default=UNLIMITED, help_text="0 means no limit."
    )
    quota = models.PositiveBigIntegerField(
        "total quota (bytes)",
        default=UNLIMITED,
        help_text="Sum of all mailbox quotas may not exceed this; 0 means no limit.",
    )
    default_mailbox_quota = models.PositiveBigIntegerField(
        "default mailbox quota (bytes)",
        default=UNLIMITED,
        help_text="Quota given to new mailboxes; 0 means no limit.",
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(name=Lower("name")), name="domain_name_lowercase"
            ),
        ]

    def __str__(self) -> str:
        return self.display_name

    def save(self, *args, **kwargs) -> None:
        with transaction.atomic():
            old_name = None
            if self.pk is not None:
                old_name = (
                    Domain.objects.filter(pk=self.pk)
                    .values_list("name", flat=True)
                    .first()
                )
            super().save(*args, **kwargs)
            # With the domains hosting its mailboxes' identities (port 25's
            # sender access rows live there).
            lookups.sync_domains({self.pk} | identity_host_ids(mailbox__domain=self))
            hooks = mailbox_hooks()
            if hooks and old_name and old_name != self.name:
                # Renamed: every mailbox's maildir has to follow (on commit),
                # as for a renamed mailbox (docs/workers.md).
                hooks.domain_renamed(domain=self, old_name=old_name)

    @property
    def display_name(self) -> str:
        return display_domain(self.name)

    def clean(self) -> None:
        self.name = normalize_domain(self.name)
        if DomainAlias.objects.filter(name=self.name).exists():
            raise ValidationError(
                {"name": f"{self.display_name} is already an alias domain."}
            )
        if self.pk:
            # A rename: every address of the domain takes the new name.
            error = address_length_error(longest_local_part(self), [self.name])
            if error:
                raise ValidationError({"name": error})
        if self.quota and self.default_mailbox_quota > self.quota:
            raise ValidationError(
                {
                    "default_mailbox_quota": "The default mailbox quota cannot be "
                    "larger than the domain's total quota."
                }
            )
        if self.pk and self.quota:
            mailboxes = self.mailboxes.all()
            if mailboxes.filter(quota=UNLIMITED).exists():
                raise ValidationError(
                    {
                        "quota": "Some mailboxes have no quota limit; give each a "
                        "quota before limiting the domain's total."
                    }
                )
            allocated = mailboxes.aggregate(total=Sum("quota"))["total"] or 0
            if allocated > self.quota:
                raise ValidationError(
                    {
                        "quota": f"The mailboxes already have {allocated} bytes of "
                        "quota; the total cannot be smaller."
                    }
                )

    def quota_allocated(self, exclude_mailbox: "Mailbox | None" = None) -> int:
        mailboxes = self.mailboxes.all()
        if exclude_mailbox is not None and exclude_mailbox.pk:
            mailboxes = mailboxes.exclude(pk=exclude_mailbox.pk)
        return mailboxes.aggregate(total=Sum("quota"))["total"] or 0


class DomainAlias(LookupSyncMixin):
    """Another name for a domain: x@alias reaches x@target for every x."""

    name = models.CharField(max_length=253, unique=True)
    target = models.ForeignKey(
        Domain, on_delete=models.CASCADE, related_name="alias_domains"
    )
    active = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "domain aliases"
        constraints = [
            models.CheckConstraint(
                condition=Q(name=Lower("name")), name="domainalias_name_lowercase"
            ),
        ]

    def __str__(self) -> str:
        return f"{display_domain(self.name)} → {self.target_id and self.target}"

    def lookup_domain_ids(self) -> set[int]:
        # The expanded rows belong to the target: it is rebuilt, not the alias.
        return {self.target_id}

    def clean(self) -> None:
        self.name = normalize_domain(self.name)
        if Domain.objects.filter(name=self.name).exists():
            raise ValidationError(
                {
                    "name": f"{display_domain(self.name)} is a hosted domain; an "
                    "alias domain cannot point at itself or share a hosted name."
                }
            )
        if self.target_id:
            # Every mailbox and alias of the target gets an address here.
            local_part = longest_local_part(self.target)
            error = address_length_error(local_part, [self.name])
            if error:
                raise ValidationError({"name": error})


class Mailbox(LookupSyncMixin):
    """An address that stores mail and can log in to IMAP, POP3 and submission."""

    domain = models.ForeignKey(
        Domain,
        # Deleting a domain with mailboxes must be explicit: see
        # domains.services.domain_delete().
        on_delete=models.PROTECT,
        related_name="mailboxes",
    )
    local_part = models.CharField(max_length=64)
    name = models.CharField("display name", max_length=255, blank=True)
    password = models.CharField(max_length=255, editable=False)
    quota = models.PositiveBigIntegerField(
        "quota (bytes)", default=UNLIMITED, help_text="0 means no limit."
    )
    active = models.BooleanField(default=True)
    imap_enabled = models.BooleanField("IMAP", default=True)
    pop3_enabled = models.BooleanField("POP3", default=True)
    smtp_enabled = models.BooleanField(
        "SMTP submission", default=True, help_text="May log in to send mail."
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)
    password_changed_at = models.DateTimeField(null=True, blank=True, editable=False)

    # Never looked up, sorted or searched in the admin (domains.secrets).
    secret_fields = ("password",)

    class Meta:
        ordering = ["domain__name", "local_part"]
        verbose_name_plural = "mailboxes"
        constraints = [
            models.UniqueConstraint(
                fields=["domain", "local_part"], name="mailbox_address_unique"
            ),
            # Lower case, not empty, and nothing a path or a Dovecot login
            # would misread, even for a write that skips clean().
            models.CheckConstraint(
                condition=Q(IsHostedLocalPart("local_part")),
                name="mailbox_local_part_hosted",
                violation_error_message=LOCAL_PART_CHECK_MESSAGE,
            ),
        ]

    def __str__(self) -> str:
        return self.address

    def save(self, *args, **kwargs) -> None:
        with transaction.atomic():
            old = None
            if self.pk is not None:
                old = (
                    Mailbox.objects.filter(pk=self.pk)
                    .values_list("local_part", "domain_id")
                    .first()
                )
            super().save(*args, **kwargs)
            hooks = mailbox_hooks()
            if hooks and old and old != (self.local_part, self.domain_id):
                # Renamed or moved: the maildir has to follow (on commit).
                hooks.mailbox_moved(
                    mailbox=self,
                    old_local_part=old[0],
                    old_domain=Domain.objects.get(pk=old[1]),
                )

    def delete(self, *args, **kwargs):
        with transaction.atomic():
            hooks = mailbox_hooks()
            if hooks:
                hooks.mailbox_deleted(mailbox=self)
            return super().delete(*args, **kwargs)

    def lookup_domain_ids(self) -> set[int]:
        # Its identities' port 25 sender access rows live with the domains
        # that host them (lookups.PostfixSenderAccess).
        ids = {self.domain_id}
        if self.pk is not None:
            ids |= identity_host_ids(mailbox=self)
        return ids

    @property
    def address(self) -> str:
        return f"{self.local_part}@{self.domain.name}"

    def set_password(self, raw_password: str) -> None:
        """Store a hash of ``raw_password`` in the configured Dovecot scheme."""
        self.password = passwords.hash_password(raw_password)
        self.password_changed_at = timezone.now()

    def check_password(self, raw_password: str) -> bool:
        """Verify ``raw_password``; upgrade an old hash while the plaintext is here."""
        if not passwords.verify_password(raw_password, self.password):
            return False
        if passwords.needs_rehash(self.password):
            self.password = passwords.hash_password(raw_password)
            self.save(update_fields=["password", "updated"])
        return True

    def clean(self) -> None:
        if self.local_part:
            try:
                self.local_part = normalize_hosted_local_part(self.local_part)
            except ValidationError as exc:
                raise ValidationError({"local_part": exc.messages}) from None
        if not self.domain_id or not self.local_part:
            return
        domain = self.domain
        error = address_length_error(self.local_part, hosted_names(domain))
        if error:
            raise ValidationError({"local_part": error})
        if self._state.adding and self.quota == UNLIMITED:
            self.quota = domain.default_mailbox_quota
        if Alias.objects.filter(domain=domain, local_part=self.local_part).exists():
            raise ValidationError(
                {"local_part": f"{self.address} is already an alias."}
            )
        if (
            self._state.adding
            and domain.max_mailboxes
            and domain.mailboxes.count() >= domain.max_mailboxes
        ):
            raise ValidationError(
                f"{domain} already has its maximum of {domain.max_mailboxes} mailboxes."
            )
        if domain.quota:
            if self.quota == UNLIMITED:
                raise ValidationError(
                    {
                        "quota": f"{domain} has a total quota, so each mailbox "
                        "needs a quota of its own."
                    }
                )
            free = domain.quota - domain.quota_allocated(exclude_mailbox=self)
            if self.quota > free:
                raise ValidationError(
                    {"quota": f"Only {free} bytes of {domain}'s total quota are left."}
                )


class Alias(LookupSyncMixin):
    """Mail to ``local_part@domain`` goes to the destinations instead.

    An empty local part is the domain's catch-all; it only receives mail for
    addresses that are neither a mailbox nor an alias.
    """

    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="aliases")
    local_part = models.CharField(
        max_length=64, blank=True, help_text="Leave empty for a catch-all."
    )
    destinations = models.TextField(
        help_text="One address per line; local or external."
    )
    active = models.BooleanField(default=True)
    description = models.CharField(max_length=255, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["domain__name", "local_part"]
        verbose_name_plural = "aliases"
        constraints = [
            models.UniqueConstraint(
                fields=["domain", "local_part"], name="alias_source_unique"
            ),
            models.CheckConstraint(
                condition=Q(local_part="") | Q(IsHostedLocalPart("local_part")),
                name="alias_local_part_hosted",
                violation_error_message=LOCAL_PART_CHECK_MESSAGE,
            ),
        ]

    def __str__(self) -> str:
        return self.source

    @property
    def is_catchall(self) -> bool:
        return self.local_part == ""

    @property
    def source(self) -> str:
        return f"{self.local_part}@{self.domain.name}"

    @property
    def destination_list(self) -> list[str]:
        return self.destinations.split()

    def clean(self) -> None:
        errors: dict[str, list] = {}
        if self.local_part:
            try:
                self.local_part = normalize_hosted_local_part(self.local_part)
            except ValidationError as exc:
                errors["local_part"] = exc.messages
        try:
            self.destinations = "\n".join(parse_address_list(self.destinations))
        except ValidationError as exc:
            errors["destinations"] = exc.messages
        if errors:
            raise ValidationError(errors)
        if not self.domain_id:
            return
        domain = self.domain
        if not self.is_catchall:
            error = address_length_error(self.local_part, hosted_names(domain))
            if error:
                raise ValidationError({"local_part": error})
        if (
            not self.is_catchall
            and Mailbox.objects.filter(
                domain=domain, local_part=self.local_part
            ).exists()
        ):
            raise ValidationError(
                {"local_part": f"{self.source} is already a mailbox."}
            )
        if self.source in self.destination_list:
            raise ValidationError({"destinations": "An alias cannot point at itself."})
        if (
            self._state.adding
            and domain.max_aliases
            and domain.aliases.count() >= domain.max_aliases
        ):
            raise ValidationError(
                f"{domain} already has its maximum of {domain.max_aliases} aliases."
            )
        if not self.is_catchall:
            from domains.loops import find_loop

            loop = find_loop(self.source, self.destination_list)
            if loop:
                raise ValidationError(
                    {"destinations": "This would make a loop: " + " → ".join(loop)}
                )
        # The rows domains.lookups writes for it: at the domain, and at each
        # alias domain (x@alias → x@domain; a catch-all copied as it is).
        key = self.source if not self.is_catchall else f"@{domain.name}"
        override = {key: self.destination_list}
        for name in hosted_names(domain)[1:]:
            if self.is_catchall:
                override[f"@{name}"] = self.destination_list
            else:
                override[f"{self.local_part}@{name}"] = [self.source]
        check_expansion(override)


class Forward(LookupSyncMixin):
    """A mailbox's mail also (or only) goes to other addresses."""

    mailbox = models.OneToOneField(
        Mailbox, on_delete=models.CASCADE, related_name="forward"
    )
    destinations = models.TextField(help_text="One address per line.")
    keep_copy = models.BooleanField(
        default=True, help_text="Also keep each message in the mailbox."
    )
    active = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["mailbox"]

    def __str__(self) -> str:
        return f"{self.mailbox} → {', '.join(self.destination_list)}"

    @property
    def domain_id(self) -> int:
        return self.mailbox.domain_id

    @property
    def destination_list(self) -> list[str]:
        return self.destinations.split()

    def clean(self) -> None:
        try:
            self.destinations = "\n".join(parse_address_list(self.destinations))
        except ValidationError as exc:
            raise ValidationError({"destinations": exc.messages}) from None
        if not self.mailbox_id:
            return
        address = self.mailbox.address
        if address in self.destination_list:
            raise ValidationError(
                {
                    "destinations": "A mailbox cannot forward to itself; use "
                    "“keep a copy” instead."
                }
            )
        from domains.loops import find_loop

        loop = find_loop(address, self.destination_list)
        if loop:
            raise ValidationError(
                {"destinations": "This would make a loop: " + " → ".join(loop)}
            )
        # The mailbox's row in virtual_alias_maps (lookups._mailbox_targets).
        targets = [address] if self.keep_copy else []
        check_expansion({address: targets + self.destination_list})


def hosting_domain_ids(addresses: Iterable[str]) -> set[int]:
    """The hosted domains whose names (their own or an alias domain's) the
    ``addresses`` are at."""
    names = {address.rpartition("@")[2] for address in addresses}
    if not names:
        return set()
    ids = set(Domain.objects.filter(name__in=names).values_list("pk", flat=True))
    aliases = DomainAlias.objects.filter(name__in=names)
    return ids | set(aliases.values_list("target_id", flat=True))


def identity_host_ids(**filters) -> set[int]:
    """The hosted domains of the SendAsIdentity rows that match ``filters``:
    where their port 25 sender access rows live."""
    identities = SendAsIdentity.objects.filter(**filters)
    return hosting_domain_ids(identities.values_list("address", flat=True))


class SendAsIdentity(LookupSyncMixin):
    """An extra address a mailbox may send as, beyond itself and its aliases."""

    mailbox = models.ForeignKey(
        Mailbox, on_delete=models.CASCADE, related_name="identities"
    )
    address = models.CharField(max_length=254)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["address"]
        verbose_name = "send-as identity"
        verbose_name_plural = "send-as identities"
        constraints = [
            models.UniqueConstraint(
                fields=["mailbox", "address"], name="identity_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.address

    @property
    def domain_id(self) -> int:
        return self.mailbox.domain_id

    def lookup_domain_ids(self) -> set[int]:
        # Port 25's sender access row lives with the address's own domain.
        return {self.domain_id} | hosting_domain_ids([self.address])

    def clean(self) -> None:
        from domains.addresses import normalize_address

        try:
            self.address = normalize_address(self.address)
        except ValidationError as exc:
            raise ValidationError({"address": exc.messages}) from None
        if self.mailbox_id and self.address == self.mailbox.address:
            raise ValidationError(
                {"address": "A mailbox can always send as its own address."}
            )


# The lookup tables are models of this app too; importing them here registers
# them with Django.
from domains import lookups  # noqa: E402, F401
