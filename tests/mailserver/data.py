"""Creating mail data through the ORM, the way the admin's forms do it.

full_clean() then save(): the models' save() rebuilds the lookup rows that
Postfix and Dovecot read, in the same (committed) transaction.
"""

from __future__ import annotations

from domains.models import Alias, Domain, DomainAlias, Forward, Mailbox, SendAsIdentity

PASSWORD = "Correct-Horse-Battery-9"


def domain(name: str, **fields) -> Domain:
    obj = Domain(name=name, **fields)
    obj.full_clean()
    obj.save()
    return obj


def mailbox(
    dom: Domain, local_part: str, password: str = PASSWORD, **fields
) -> Mailbox:
    obj = Mailbox(domain=dom, local_part=local_part, **fields)
    obj.set_password(password)
    obj.full_clean()
    obj.save()
    return obj


def alias(dom: Domain, local_part: str, *destinations: str, **fields) -> Alias:
    obj = Alias(
        domain=dom,
        local_part=local_part,
        destinations="\n".join(destinations),
        **fields,
    )
    obj.full_clean()
    obj.save()
    return obj


def domain_alias(name: str, target: Domain) -> DomainAlias:
    obj = DomainAlias(name=name, target=target)
    obj.full_clean()
    obj.save()
    return obj


def forward(box: Mailbox, *destinations: str, keep_copy: bool) -> Forward:
    obj = Forward(
        mailbox=box, destinations="\n".join(destinations), keep_copy=keep_copy
    )
    obj.full_clean()
    obj.save()
    return obj


def identity(box: Mailbox, address: str) -> SendAsIdentity:
    obj = SendAsIdentity(mailbox=box, address=address)
    obj.full_clean()
    obj.save()
    return obj


def update(obj, **fields) -> None:
    """Change fields and save like an admin edit (lookup rows follow)."""
    for name, value in fields.items():
        setattr(obj, name, value)
    obj.full_clean()
    obj.save()
