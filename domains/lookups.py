"""The lookup tables behind the SQL interface, and how they are rebuilt.

Postfix and Dovecot ask one question per lookup ("where does x@y go?") and ask
it thousands of times for every change an admin makes. So each answer is kept
ready in a narrow table keyed by the exact string the daemon sends, with a
unique index: every lookup is one index probe, with no join, no expansion of
domain aliases at query time and no filter on ``active`` (inactive rows are
simply absent). The views in migration 0002 give these tables stable names;
docs/sql-interface.md lists the queries.

Every row belongs to one hosted domain and ``sync_domains()`` rebuilds all rows
of a domain from the source models, inside the caller's transaction.
"""

from collections.abc import Iterable, Iterator

from django.db import models, transaction

from domains.maildir_paths import MailboxPathError, mailbox_relative_dir


class LookupKey(models.CharField):
    """The column a daemon looks rows up by: compared byte by byte.

    Postfix and Dovecot only ever ask for equality, and under a deterministic
    collation equal already means byte-equal, so the "C" collation changes no
    answer; it makes each comparison of the index probe a memcmp() instead of
    a locale-aware strcoll(). Measured beside a primary-key probe on 220,000
    rows, a text key cost 4.0 µs more under the cluster's C.UTF-8 collation,
    6.2 µs under ICU en-US and 3.1 µs under "C". PostgreSQL only: SQLite
    compares bytes already, and has no collation of that name.
    """

    def db_parameters(self, connection) -> dict:
        params = super().db_parameters(connection)
        if connection.vendor == "postgresql":
            params["collation"] = "C"
        return params


class LookupRow(models.Model):
    """A row of a lookup table, owned by the hosted domain it was built from.

    Keys are unique through Meta constraints rather than ``unique=True``:
    that spares PostgreSQL the second ``varchar_pattern_ops`` index Django
    adds for unique CharFields, which no lookup uses and every write pays for.
    """

    domain = models.ForeignKey(
        "domains.Domain", on_delete=models.CASCADE, related_name="+"
    )

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{type(self).__name__} {self.pk}"


class PostfixDomain(LookupRow):
    """virtual_mailbox_domains: every active domain and active alias domain."""

    name = LookupKey(max_length=253)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["name"], name="postfixdomain_key")
        ]


class PostfixMailbox(LookupRow):
    """virtual_mailbox_maps: address → maildir, relative to the vmail root."""

    address = LookupKey(max_length=254)
    maildir = models.CharField(max_length=320)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["address"], name="postfixmailbox_key")
        ]


class PostfixAlias(LookupRow):
    """virtual_alias_maps: address or @domain → comma-separated destinations.

    Holds aliases and catch-alls, a row per mailbox (itself, or its forwards,
    with itself when it keeps a copy) so that a catch-all never swallows it,
    and each of those repeated for every alias domain.
    """

    address = LookupKey(max_length=254)
    destination = models.TextField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["address"], name="postfixalias_key")
        ]


class PostfixSenderLogin(LookupRow):
    """smtpd_sender_login_maps: sender address → each login that may use it."""

    address = LookupKey(max_length=254)
    login = models.CharField(max_length=254)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["address", "login", "domain"], name="sender_login_unique"
            )
        ]


class PostfixRecipientAccess(LookupRow):
    """check_recipient_access: what smtpd answers for an address.

    REJECT for disabled mailboxes and aliases (without these rows they would
    fall through to the domain's catch-all), actions other apps ask for (a
    4xx while a maildir moves), and OK for every other address of the alias
    map, catch-alls aside: smtpd then accepts it on this one query instead of
    asking the alias map as well (reject_unlisted_recipient), which saves a
    lookup per delivered message.
    """

    address = LookupKey(max_length=254)
    action = models.CharField(max_length=200)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["address"], name="postfixrecipientaccess_key"
            )
        ]


class PostfixSenderAccess(LookupRow):
    """Port 25's check_sender_access: the addresses a stranger may not use.

    One row per address of a hosted domain that has an owner in
    smtpd_sender_login_maps (a mailbox, an alias, an identity), so the
    unauthenticated check is a single-row probe. An identity outside the
    hosted domains has no row: mail its real provider sends for it must still
    come in. A row belongs to the domain that hosts its address, whichever
    domain's mailbox holds the identity.
    """

    address = LookupKey(max_length=254)
    action = models.CharField(max_length=200)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["address"], name="postfixsenderaccess_key")
        ]


class DovecotLogin(LookupRow):
    """passdb: one row per active mailbox and service it may log in to.

    Keyed by ``login`` = "SERVICE:ADDRESS" (what Dovecot's ``%Ls:%u`` expands
    to), so the per-service switches cost nothing at login: a disabled service
    simply has no row, and the query is one probe on one text key, the same
    shape as every Postfix map (bench/lookups.py measured a composite
    (username, service) key at 1.12x the floor, this one at 1.06x).
    """

    login = LookupKey(max_length=272)
    username = models.CharField(max_length=254)
    service = models.CharField(max_length=16)
    password = models.CharField(max_length=255)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["login"], name="dovecotlogin_login_key")
        ]


class DovecotUser(LookupRow):
    """userdb and iterate: one row per active mailbox.

    ``maildir`` is relative to the vmail root (DOMAIN/LOCALPART/), like
    Postfix's virtual_mailbox_maps: the rows are the same for every mail host,
    whoever rebuilt them, and each host's rendered user_query prepends its own
    root. uid and gid are each host's Dovecot settings (mail_uid, mail_gid).
    """

    mailbox = models.OneToOneField(
        "domains.Mailbox", on_delete=models.CASCADE, related_name="+"
    )
    username = LookupKey(max_length=254)
    password = models.CharField(max_length=255)
    maildir = models.CharField(max_length=320)
    quota_rule = models.CharField(max_length=64)
    imap_enabled = models.BooleanField()
    pop3_enabled = models.BooleanField()
    smtp_enabled = models.BooleanField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["username"], name="dovecotuser_key")
        ]


LOOKUP_MODELS: tuple[type[LookupRow], ...] = (
    PostfixDomain,
    PostfixMailbox,
    PostfixAlias,
    PostfixSenderLogin,
    PostfixRecipientAccess,
    PostfixSenderAccess,
    DovecotLogin,
    DovecotUser,
)

DISABLED_ACTION = "REJECT 5.2.1 This mailbox is disabled"
OWNED_SENDER_ACTION = "REJECT 5.7.1 Log in to send as this address"
ACCEPT_ACTION = "OK"


def sync_domains(domain_ids: Iterable[int | None]) -> None:
    """Rebuild the lookup rows of each domain in ``domain_ids``.

    Then tells the hooks module (``lookups_rebuilt``): who receives mail at
    which address may have changed, and files on the mail hosts depend on it
    (the addresses of an out-of-office reply).
    """
    from domains.models import mailbox_hooks

    ids = sorted({pk for pk in domain_ids if pk is not None})
    for domain_id in ids:
        sync_domain(domain_id)
    hooks = mailbox_hooks()
    if ids and hooks:
        hooks.lookups_rebuilt()


@transaction.atomic
def sync_domain(domain_id: int) -> None:
    """Replace every lookup row of one domain with rows built from its models."""
    from domains.models import Domain

    # Locking the domain row serialises concurrent rebuilds of one domain:
    # without it two saves could each delete and re-insert, and the second
    # insert would hit the unique indexes.
    domain = Domain.objects.select_for_update().filter(pk=domain_id).first()
    for model in LOOKUP_MODELS:
        model.objects.filter(domain_id=domain_id).delete()
    if domain is None or not domain.active:
        return
    for model, rows in _build_rows(domain).items():
        model.objects.bulk_create(rows, batch_size=1000)


def sync_all() -> int:
    """Rebuild every domain (after a restore, or to repair hand-edited rows)."""
    from domains.models import Domain

    domain_ids = list(Domain.objects.values_list("pk", flat=True))
    sync_domains(domain_ids)
    return len(domain_ids)


def quota_rule(quota: int) -> str:
    # Dovecot reads a limit of 0 as "no limit", which is what quota 0 means here.
    return f"*:bytes={quota}"


def _build_rows(domain) -> dict[type[LookupRow], list[LookupRow]]:
    rows: dict[type[LookupRow], list[LookupRow]] = {m: [] for m in LOOKUP_MODELS}
    alias_domains = [
        name
        for name in domain.alias_domains.filter(active=True).values_list(
            "name", flat=True
        )
    ]
    names = [domain.name, *alias_domains]

    def add(model: type[LookupRow], **fields) -> None:
        rows[model].append(model(domain=domain, **fields))

    def sender_logins(local_part: str, logins: Iterable[str]) -> None:
        for name in names:
            for login in logins:
                add(PostfixSenderLogin, address=f"{local_part}@{name}", login=login)

    for name in names:
        add(PostfixDomain, name=name)

    mailboxes = domain.mailboxes.select_related("forward").prefetch_related(
        "identities"
    )
    for mailbox in mailboxes:
        address = f"{mailbox.local_part}@{domain.name}"
        try:
            maildir = (
                mailbox_relative_dir(domain=domain.name, local_part=mailbox.local_part)
                + "/"
            )
        except MailboxPathError:
            # A row from before the alphabet's check (migration 0008 stops
            # until it is renamed or deleted): Dovecot refused its name all
            # along, and its path could be another mailbox's home. Its mail is
            # refused as a disabled mailbox's is; Dovecot refused it anyway.
            maildir = None
        if not mailbox.active or maildir is None:
            for name in names:
                add(
                    PostfixRecipientAccess,
                    address=f"{mailbox.local_part}@{name}",
                    action=DISABLED_ACTION,
                )
            continue
        add(PostfixMailbox, address=address, maildir=maildir)
        add(
            PostfixAlias,
            address=address,
            destination=",".join(_mailbox_targets(mailbox, address)),
        )
        for alias_name in alias_domains:
            add(
                PostfixAlias,
                address=f"{mailbox.local_part}@{alias_name}",
                destination=address,
            )
        sender_logins(mailbox.local_part, [address])
        for identity in mailbox.identities.all():
            add(PostfixSenderLogin, address=identity.address, login=address)
        for service, enabled in (
            ("imap", mailbox.imap_enabled),
            ("pop3", mailbox.pop3_enabled),
            # Postfix's SASL requests reach Dovecot with the service "smtp".
            ("smtp", mailbox.smtp_enabled),
        ):
            if enabled:
                add(
                    DovecotLogin,
                    login=f"{service}:{address}",
                    username=address,
                    service=service,
                    password=mailbox.password,
                )
        add(
            DovecotUser,
            mailbox=mailbox,
            username=address,
            password=mailbox.password,
            maildir=maildir,
            quota_rule=quota_rule(mailbox.quota),
            imap_enabled=mailbox.imap_enabled,
            pop3_enabled=mailbox.pop3_enabled,
            smtp_enabled=mailbox.smtp_enabled,
        )

    for alias in domain.aliases.all():
        source = f"{alias.local_part}@{domain.name}"
        if not alias.active:
            if not alias.is_catchall:
                for name in names:
                    add(
                        PostfixRecipientAccess,
                        address=f"{alias.local_part}@{name}",
                        action=DISABLED_ACTION,
                    )
            continue
        destination = ",".join(alias.destination_list)
        add(PostfixAlias, address=source, destination=destination)
        for alias_name in alias_domains:
            # x@alias → x@target lets Postfix expand the target's alias; a
            # catch-all cannot be written that way (virtual(5) has no @a → @b
            # form that keeps the local part), so it is copied as it is.
            add(
                PostfixAlias,
                address=f"{alias.local_part}@{alias_name}",
                destination=destination if alias.is_catchall else source,
            )
        if not alias.is_catchall:
            # Whoever receives an alias may send as it (docs/sql-interface.md).
            sender_logins(alias.local_part, alias.destination_list)
    hosted = set(names)
    owned = {
        row.address
        for row in rows[PostfixSenderLogin]
        if row.address.rpartition("@")[2] in hosted
    }
    owned.update(_identities_within(names))
    for address in sorted(owned):
        add(PostfixSenderAccess, address=address, action=OWNED_SENDER_ACTION)
    refused = {row.address for row in rows[PostfixRecipientAccess]}
    for row in rows[PostfixAlias]:
        if not row.address.startswith("@") and row.address not in refused:
            add(PostfixRecipientAccess, address=row.address, action=ACCEPT_ACTION)
    _add_hook_access_rows(domain, names, rows)
    return rows


def _identities_within(names: list[str]) -> list[str]:
    """The identities, held by any active mailbox, at one of ``names``."""
    from domains.models import SendAsIdentity

    within = models.Q()
    for name in names:
        within |= models.Q(address__endswith=f"@{name}")
    return list(
        SendAsIdentity.objects.filter(
            within, mailbox__active=True, mailbox__domain__active=True
        ).values_list("address", flat=True)
    )


def _add_hook_access_rows(domain, names: list[str], rows) -> None:
    """Actions other apps ask for, e.g. a 4xx while a maildir is being moved.

    They win over a "disabled" row for the same address: deferring mail is
    never worse than refusing it.
    """
    from domains.models import mailbox_hooks

    hooks = mailbox_hooks()
    extra = hooks.recipient_access_rows(domain) if hooks else {}
    if not extra:
        return
    wanted = {
        f"{local_part}@{name}": action
        for local_part, action in extra.items()
        for name in names
    }
    rows[PostfixRecipientAccess] = [
        row for row in rows[PostfixRecipientAccess] if row.address not in wanted
    ] + [
        PostfixRecipientAccess(domain=domain, address=address, action=action)
        for address, action in wanted.items()
    ]


def _mailbox_targets(mailbox, address: str) -> Iterator[str]:
    forward = getattr(mailbox, "forward", None)
    if forward is None or not forward.active:
        yield address
        return
    if forward.keep_copy:
        # Postfix delivers an address that expands to itself as it is.
        yield address
    yield from forward.destination_list
