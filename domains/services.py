"""Writes that span more than one row: the admin, commands and the portal call these.

Each service validates everything first (``full_clean()`` and Django's password
validators) and writes inside one transaction, so a rejected change writes
nothing.
"""

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet

from domains import lookups
from domains.models import (
    Domain,
    Forward,
    Mailbox,
    identity_host_ids,
    mailbox_hooks,
)


@transaction.atomic
def mailbox_create(
    *,
    domain: Domain,
    local_part: str,
    password: str,
    name: str = "",
    quota: int | None = None,
    **switches: bool,
) -> Mailbox:
    """Create a mailbox with a password that passes the configured validators."""
    validate_password(password)
    mailbox = Mailbox(domain=domain, local_part=local_part, name=name, **switches)
    if quota is not None:
        mailbox.quota = quota
    mailbox.set_password(password)
    mailbox.full_clean()
    mailbox.save()
    return mailbox


@transaction.atomic
def mailbox_set_password(*, mailbox: Mailbox, password: str) -> None:
    """Replace a mailbox's password; the new hash is live at the next lookup."""
    validate_password(password)
    mailbox.set_password(password)
    mailbox.save(update_fields=["password", "password_changed_at", "updated"])
    hooks = mailbox_hooks()
    if hooks:
        # Flushes Dovecot's auth cache on each mail host, after commit.
        hooks.password_changed(mailbox=mailbox)


@transaction.atomic
def objects_set_active(*, queryset: QuerySet, active: bool) -> int:
    """Bulk (de)activate domains, domain aliases, mailboxes or aliases.

    ``update()`` bypasses ``save()``, so the affected domains are rebuilt here.
    """
    model = queryset.model
    # With the domains hosting the identities of the mailboxes switched: port
    # 25's sender access rows live there (Mailbox.lookup_domain_ids).
    if model is Domain:
        domain_ids = set(queryset.values_list("pk", flat=True))
        domain_ids |= identity_host_ids(mailbox__domain__in=queryset)
    elif hasattr(model, "target"):
        domain_ids = set(queryset.values_list("target_id", flat=True))
    else:
        domain_ids = set(queryset.values_list("domain_id", flat=True))
        if model is Mailbox:
            domain_ids |= identity_host_ids(mailbox__in=queryset)
    count = queryset.update(active=active)
    lookups.sync_domains(domain_ids)
    return count


@transaction.atomic
def objects_delete(*, queryset: QuerySet) -> int:
    """Bulk delete mailboxes, aliases, domain aliases, forwards or identities.

    One by one through ``Model.delete()``, never ``queryset.delete()``: that
    is what rebuilds the lookup rows and, for a mailbox, what archives its
    maildir (the mailbox hooks, docs/workers.md). Returns how many went.
    """
    if queryset.model is Mailbox:
        queryset = queryset.select_related("domain")
    count = 0
    for obj in queryset:
        obj.delete()
        count += 1
    return count


@transaction.atomic
def domain_delete(*, domain: Domain, delete_mailboxes: bool = False) -> None:
    """Delete a domain; one that still has mailboxes needs ``delete_mailboxes``.

    The mailboxes' maildirs are archived by the mail hosts' workers, or
    removed only where MAILPANEL_MAILDIR_ON_DELETE says so.
    """
    count = domain.mailboxes.count()
    if count and not delete_mailboxes:
        raise ValidationError(
            f"{domain} still has {count} mailbox(es); confirm that they are to be "
            "deleted with the domain."
        )
    for mailbox in domain.mailboxes.select_related("domain"):
        # One by one, so each maildir is archived (Mailbox.delete's hook).
        mailbox.delete()
    domain.delete()


@transaction.atomic
def forward_set(
    *, mailbox: Mailbox, destinations: str, keep_copy: bool
) -> Forward | None:
    """Replace a mailbox's forwarding; no destinations removes it.

    Validated by ``Forward.full_clean()`` as in the admin (no loops, not to
    itself). An existing forward keeps its ``active`` switch: one an admin
    turned off stays off when its owner edits the addresses.
    """
    forward = Forward.objects.filter(mailbox=mailbox).first()
    if not destinations.strip():
        if forward is not None:
            forward.delete()
        return None
    if forward is None:
        forward = Forward(mailbox=mailbox)
    forward.destinations = destinations
    forward.keep_copy = keep_copy
    forward.full_clean()
    forward.save()
    return forward
