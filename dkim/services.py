"""DKIM keys: what the signer reads, and every change of a key's state.

The mail hosts read ``signing_keys()``; everything else here changes keys and
then tells the mail hosts through ``MAILPANEL_MAILBOX_HOOKS``'s
``dkim_keys_changed()`` (mailserver.lifecycle), in the same transaction, so a
reload is queued exactly when the change is committed (docs/workers.md). dkim
imports no other app of ours but domains.

Selectors of generated keys are ``mp<yyyymm>r`` (RSA) and ``mp<yyyymm>e``
(Ed25519), the month of generation, with ``2``, ``3``... appended when a
domain rotates twice in a month (docs/dkim.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from dkim import keys, publication
from dkim.models import DkimKey
from domains.addresses import normalize_domain
from domains.models import Domain, mailbox_hooks

DEFAULT_ALGORITHMS = (DkimKey.Algorithm.RSA, DkimKey.Algorithm.ED25519)
_SUFFIX = {DkimKey.Algorithm.RSA: "r", DkimKey.Algorithm.ED25519: "e"}


class DkimError(Exception):
    """A refused change; the message is for people and names no key material."""


@dataclass(frozen=True)
class SigningKey:
    """One key the mail hosts sign with (rspamd's dkim_signing module)."""

    domain: str  # ASCII (IDNA) domain name, lower case
    selector: str
    algorithm: str  # "rsa" or "ed25519", rspamd's names
    private_pem: str = field(repr=False)  # decrypted PKCS#8 PEM


def signing_keys() -> list[SigningKey]:
    """Every active key of every enabled hosted domain, by domain and algorithm.

    Raises domains.crypto.SecretError when a key cannot be decrypted (the
    encryption key was changed): a signer configuration must not be written
    without a key the database calls active.
    """
    rows = (
        DkimKey.objects.filter(state=DkimKey.State.ACTIVE, domain__active=True)
        .select_related("domain")
        .order_by("domain__name", "algorithm")
    )
    return [
        SigningKey(
            domain=key.domain.name,
            selector=key.selector,
            algorithm=key.algorithm,
            private_pem=key.private_pem(),
        )
        for key in rows
    ]


def dkim_dns_record(key: DkimKey | SigningKey) -> str:
    """The TXT record to publish for ``key``: ``v=DKIM1; k=rsa; p=...``."""
    if isinstance(key, SigningKey):
        material = keys.load(key.private_pem)
        return keys.dns_record(algorithm=material.algorithm, public=material.public)
    return key.dns_record


def published_keys(*, domain: Domain | None = None) -> QuerySet[DkimKey]:
    """Keys whose record belongs in DNS: pending, active and retiring."""
    rows = DkimKey.objects.filter(state__in=DkimKey.PUBLISHED).select_related("domain")
    if domain is not None:
        rows = rows.filter(domain=domain)
    return rows.order_by("domain__name", "algorithm", "created", "pk")


def domain_get(*, name: str) -> Domain:
    """The hosted domain called ``name``, in any form (IDN or ASCII)."""
    try:
        return Domain.objects.get(name=normalize_domain(name))
    except (Domain.DoesNotExist, ValidationError):
        raise DkimError(f"{name} is not a hosted domain.") from None


def _keys_changed() -> None:
    # The mail hosts rewrite rspamd's keys and reload (mailserver.lifecycle);
    # rows only, in the caller's transaction.
    hooks = mailbox_hooks()
    if hooks is not None:
        hooks.dkim_keys_changed()


# --- new keys ---------------------------------------------------------------------


def _selector_free(*, domain: Domain, algorithm: str, now: datetime) -> str:
    base = f"mp{now:%Y%m}{_SUFFIX[algorithm]}"
    taken = set(
        DkimKey.objects.filter(domain=domain, selector__startswith=base).values_list(
            "selector", flat=True
        )
    )
    selector, number = base, 1
    while selector in taken:
        number += 1
        selector = f"{base}{number}"
    return selector


def _new_key(*, domain: Domain, algorithm: str, bits: int, now: datetime) -> DkimKey:
    try:
        material = keys.generate(algorithm=algorithm, bits=bits)
    except keys.KeyMaterialError as exc:
        raise DkimError(str(exc)) from None
    key = DkimKey(
        domain=domain,
        selector=_selector_free(domain=domain, algorithm=algorithm, now=now),
    )
    key.set_key(material)
    key.full_clean()
    key.save()
    return key


def _algorithms(algorithms: Iterable[str] | None) -> list[str]:
    chosen = list(dict.fromkeys(algorithms or DEFAULT_ALGORITHMS))
    unknown = [a for a in chosen if a not in DkimKey.Algorithm.values]
    if unknown:
        raise DkimError(f"Unknown algorithm {', '.join(unknown)}: use rsa or ed25519.")
    return chosen


@transaction.atomic
def dkim_key_generate(
    *,
    domain: Domain,
    algorithms: Iterable[str] | None = None,
    bits: int = keys.RSA_DEFAULT_BITS,
) -> list[DkimKey]:
    """A domain's first keys: one pending key per algorithm, RSA and Ed25519.

    Refused for an algorithm the domain already has a pending or active key
    of (that is a rotation). Nothing is created unless every key can be.
    """
    chosen = _algorithms(algorithms)
    Domain.objects.select_for_update().filter(pk=domain.pk).first()
    key = (
        DkimKey.objects.filter(
            domain=domain,
            algorithm__in=chosen,
            state__in=(DkimKey.State.PENDING, DkimKey.State.ACTIVE),
        )
        .order_by("algorithm")
        .first()
    )
    if key is not None:
        raise DkimError(
            f"{domain.name} already has a {key.state} {key.get_algorithm_display()} "
            f"key ({key.selector}); rotate instead."
        )
    now = timezone.now()
    return [_new_key(domain=domain, algorithm=a, bits=bits, now=now) for a in chosen]


@transaction.atomic
def dkim_key_rotate(
    *,
    domain: Domain,
    algorithms: Iterable[str] | None = None,
    bits: int | None = None,
) -> list[DkimKey]:
    """New pending keys that take over from the active ones once published.

    The active keys keep signing until their successors are activated; then
    they stay published for ``MAILPANEL_DKIM_OVERLAP_DAYS``. Refused for an
    algorithm with a key already pending (publish and activate that one).
    An RSA successor keeps its predecessor's size (2048 bits at least).
    """
    chosen = _algorithms(algorithms)
    Domain.objects.select_for_update().filter(pk=domain.pk).first()
    key = (
        DkimKey.objects.filter(
            domain=domain, algorithm__in=chosen, state=DkimKey.State.PENDING
        )
        .order_by("algorithm")
        .first()
    )
    if key is not None:
        raise DkimError(
            f"{domain.name} already has a pending {key.get_algorithm_display()} key "
            f"({key.selector}) waiting for its DNS record; publish and activate it, "
            "or delete it, before rotating again."
        )
    now = timezone.now()
    created = []
    for algorithm in chosen:
        size = bits or keys.RSA_DEFAULT_BITS
        if bits is None and algorithm == DkimKey.Algorithm.RSA:
            active = DkimKey.objects.filter(
                domain=domain, algorithm=algorithm, state=DkimKey.State.ACTIVE
            ).first()
            if active is not None and active.bits in keys.RSA_GENERATE_BITS:
                size = active.bits
        created.append(_new_key(domain=domain, algorithm=algorithm, bits=size, now=now))
    return created


def dkim_key_import_check(
    *, domain: Domain, selector: str, pem: str | bytes
) -> tuple[DkimKey, keys.KeyMaterial]:
    """The unsaved key an import would create, or a ValidationError by field
    (``selector``, ``private_key``) naming every problem at once."""
    selector = (selector or "").strip().lower()
    key = DkimKey(domain=domain, selector=selector, imported=True)
    errors: dict[str, list[str]] = {}
    try:
        key.clean_fields(exclude=["algorithm", "bits", "public_key", "domain"])
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if not selector:
        errors["selector"] = [
            "Give the selector the key is published under (the s= of the "
            "signatures it made, e.g. mail)."
        ]
    elif (
        "selector" not in errors
        and DkimKey.objects.filter(domain=domain, selector=selector).exists()
    ):
        errors["selector"] = [
            f"{domain.name} already has a key with the selector {selector}."
        ]
    try:
        material = keys.load(pem)
    except keys.KeyMaterialError as exc:
        errors["private_key"] = [str(exc)]
    if errors:
        raise ValidationError(errors)
    return key, material


@transaction.atomic
def dkim_key_import(*, domain: Domain, selector: str, pem: str | bytes) -> DkimKey:
    """An existing private key (PEM) with its selector, for a server moving here.

    Starts pending like a generated key: when its record is already published
    (the usual case), the next hourly check activates it. Bad input raises a
    ValidationError by field (``selector``, ``private_key``); nothing is saved.
    """
    key, material = dkim_key_import_check(domain=domain, selector=selector, pem=pem)
    key.set_key(material)
    key.full_clean()
    key.save()
    return key


@transaction.atomic
def dkim_key_delete(*, key: DkimKey) -> None:
    """Delete a key; the mail hosts stop signing with it if it was active."""
    signing = key.state == DkimKey.State.ACTIVE
    key.delete()
    if signing:
        _keys_changed()


# --- state changes ----------------------------------------------------------------


def _overlap() -> timedelta:
    return timedelta(days=settings.MAILPANEL_DKIM_OVERLAP_DAYS)


def dkim_key_activate(
    *, key: DkimKey, force: bool = False, now: datetime | None = None
) -> DkimKey:
    """Make a pending key the one that signs, once DNS serves its record.

    ``force`` skips the DNS check (an admin who knows better, or a test). The
    previous active key of the algorithm becomes retiring, published until
    ``MAILPANEL_DKIM_OVERLAP_DAYS`` from now. Activating an active key does
    nothing; a retiring or retired key cannot come back.
    """
    if key.state == DkimKey.State.PENDING and not force:
        # Asked before the transaction: no row stays locked during a DNS query.
        try:
            answer = publication.check([key]).get(key.pk)
        except publication.NoLookup as exc:
            raise DkimError(str(exc)) from None
        if answer is None or not answer.served:
            detail = answer.detail if answer else "not checked"
            raise DkimError(
                f"DNS does not serve the record of {key.record_name} yet ({detail}); "
                f"publish “{key.dns_record}” there, or force the activation."
            )
    return _activate(key=key, now=now or timezone.now())


@transaction.atomic
def _activate(*, key: DkimKey, now: datetime) -> DkimKey:
    # The domain's row serialises activations of its keys: two successors
    # activated at once would otherwise both retire the same predecessor.
    Domain.objects.select_for_update().filter(pk=key.domain_id).first()
    current = DkimKey.objects.select_related("domain").get(pk=key.pk)
    if current.state == DkimKey.State.ACTIVE:
        return current
    if current.state != DkimKey.State.PENDING:
        raise DkimError(
            f"{current.record_name} is {current.state}; only a pending key can be "
            "activated."
        )
    DkimKey.objects.filter(
        domain_id=current.domain_id,
        algorithm=current.algorithm,
        state=DkimKey.State.ACTIVE,
    ).update(state=DkimKey.State.RETIRING, retire_after=now + _overlap())
    DkimKey.objects.filter(pk=current.pk).update(
        state=DkimKey.State.ACTIVE, activated=now
    )
    _keys_changed()
    current.refresh_from_db()
    return current


def dkim_keys_activate_published(*, now: datetime | None = None) -> list[DkimKey]:
    """Activate every pending key whose record DNS now serves."""
    pending = list(
        DkimKey.objects.filter(state=DkimKey.State.PENDING)
        .select_related("domain")
        .order_by("created", "pk")
    )
    answers = publication.check(pending)
    activated = []
    for key in pending:
        answer = answers.get(key.pk)
        if answer is not None and answer.served:
            activated.append(_activate(key=key, now=now or timezone.now()))
    return activated


@transaction.atomic
def dkim_keys_retire_expired(*, now: datetime | None = None) -> list[DkimKey]:
    """Retire the retiring keys whose overlap is over, erasing their private part."""
    now = now or timezone.now()
    due = list(
        DkimKey.objects.select_for_update()
        .filter(state=DkimKey.State.RETIRING, retire_after__lte=now)
        .order_by("pk")
    )
    if not due:
        return []
    DkimKey.objects.filter(pk__in=[k.pk for k in due]).update(
        state=DkimKey.State.RETIRED, retired=now, private_key_encrypted=""
    )
    _keys_changed()
    return list(DkimKey.objects.filter(pk__in=[k.pk for k in due]).order_by("pk"))
