"""Parsing and normalising mail addresses and domain names.

Addresses are stored the way Postfix looks them up: lower case, the domain in
IDNA (punycode) form. Local parts are limited to RFC 5321 dot-atoms in ASCII:
quoted local parts and SMTPUTF8 local parts are legal but are a common source
of lookup mismatches and relay tricks, so the panel refuses them.

The addresses hosted here (mailboxes and aliases) use a smaller alphabet,
``LOCAL_PART_CHARS``: a mailbox's local part is a Dovecot login and a
directory name under the vmail root as well as an address. docs/addresses.md
gives the reasons.
"""

import re

import idna
from django.core.exceptions import ValidationError

# RFC 5322 atext, which RFC 5321 uses for a Dot-string.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_ATOM = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*\Z")
_LDH_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)\Z")

# The hosted alphabet: the intersection of RFC 5321's dot-atom, Dovecot's
# default auth_username_chars (letters, digits, "." "-" "_" "@") and what is
# one plain directory name under VMAIL_ROOT/DOMAIN/ ("/" is a separator, a
# leading "." a hidden directory, "." and ".." the directory and its parent).
# Stored in lower case; "." only between other characters, as in a dot-atom.
# The database's check (domains.constraints) and the rendered
# auth_username_chars (mailserver.render.dovecot) are built from it.
LOCAL_PART_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_-"
_HOSTED_ATOM = rf"[{re.escape(LOCAL_PART_CHARS)}]+"
_HOSTED_LOCAL_PART = re.compile(rf"{_HOSTED_ATOM}(?:\.{_HOSTED_ATOM})*\Z")

MAX_LOCAL_PART = 64
MAX_DOMAIN = 253
# RFC 5321 4.5.3.1.3: a path is at most 256 octets including the angle brackets.
MAX_ADDRESS = 254


def normalize_domain(name: str) -> str:
    """Return ``name`` as a lower-case IDNA (punycode) domain, or raise."""
    value = (name or "").strip().rstrip(".")
    if not value:
        raise ValidationError("Enter a domain name.", code="domain_empty")
    try:
        ascii_name = idna.encode(value, uts46=True).decode("ascii").lower()
    except idna.IDNAError as exc:
        raise ValidationError(
            "“%(name)s” is not a valid domain name: %(reason)s.",
            code="domain_invalid",
            params={"name": name, "reason": exc},
        ) from None
    labels = ascii_name.split(".")
    if len(ascii_name) > MAX_DOMAIN or len(labels) < 2:
        raise ValidationError(
            "“%(name)s” is not a valid domain name: it needs at least two labels "
            "and at most 253 characters.",
            code="domain_invalid",
            params={"name": name},
        )
    if not all(_LDH_LABEL.match(label) for label in labels) or labels[-1].isdigit():
        raise ValidationError(
            "“%(name)s” is not a valid domain name.",
            code="domain_invalid",
            params={"name": name},
        )
    return ascii_name


def display_domain(ascii_name: str) -> str:
    """The Unicode form of a stored (punycode) domain, for people to read."""
    try:
        return idna.decode(ascii_name)
    except idna.IDNAError:
        return ascii_name


def normalize_local_part(local_part: str) -> str:
    """Return the lower-case local part, or raise ValidationError."""
    value = (local_part or "").strip()
    if not value:
        raise ValidationError("Enter the part before the @.", code="local_empty")
    if len(value) > MAX_LOCAL_PART:
        raise ValidationError(
            "The part before the @ may have at most 64 characters.",
            code="local_too_long",
        )
    if not value.isascii() or not _DOT_ATOM.match(value):
        raise ValidationError(
            "“%(local)s” is not allowed before the @: use letters, digits and "
            "!#$%%&'*+/=?^_`{|}~- with single dots between them.",
            code="local_invalid",
            params={"local": local_part},
        )
    return value.lower()


def is_hosted_local_part(value: str) -> bool:
    """Whether ``value``, exactly as given, may be stored as a hosted local part."""
    return len(value) <= MAX_LOCAL_PART and bool(_HOSTED_LOCAL_PART.match(value))


def normalize_hosted_local_part(local_part: str) -> str:
    """The lower-case local part of a mailbox or alias here, or ValidationError."""
    value = normalize_local_part(local_part)
    if not is_hosted_local_part(value):
        raise ValidationError(
            "“%(local)s” cannot be used here: a mailbox or alias name may only "
            "have letters, digits and . _ - (a dot not first, last or twice in "
            "a row).",
            code="local_not_hosted",
            params={"local": local_part},
        )
    return value


def is_domain_name(value: str) -> bool:
    """Whether ``value`` is a domain name exactly as ``normalize_domain`` stores it."""
    labels = value.split(".")
    return (
        len(value) <= MAX_DOMAIN
        and len(labels) >= 2
        and all(_LDH_LABEL.match(label) for label in labels)
        and not labels[-1].isdigit()
    )


def dovecot_username_chars() -> str:
    """Dovecot's auth_username_chars for logins ``local@domain`` of this alphabet.

    Upper case as well: Dovecot checks the name as the client typed it,
    before ``auth_username_format = %Lu`` lowers it. Domain names add no
    character (letters, digits, "-" and ".").
    """
    letters = "".join(c for c in LOCAL_PART_CHARS if c.isalpha())
    others = "".join(c for c in LOCAL_PART_CHARS if not c.isalpha())
    return letters + letters.upper() + others + ".@"


def split_address(address: str) -> tuple[str, str]:
    """Split and normalise ``local@domain``; raise ValidationError if malformed."""
    value = (address or "").strip()
    local_part, at, domain = value.rpartition("@")
    if not at or not local_part:
        raise ValidationError(
            "“%(address)s” is not a mail address (expected name@domain).",
            code="address_invalid",
            params={"address": address},
        )
    try:
        local_part = normalize_local_part(local_part)
        domain = normalize_domain(domain)
    except ValidationError as exc:
        # Name the whole address: in a list of ten, "Enter a domain name."
        # alone does not say which one is wrong.
        raise ValidationError(
            "“%(address)s” is not a mail address: %(reason)s",
            code="address_invalid",
            params={"address": address, "reason": " ".join(exc.messages)},
        ) from None
    if len(local_part) + 1 + len(domain) > MAX_ADDRESS:
        raise ValidationError(
            "“%(address)s” is longer than the 254 characters SMTP allows.",
            code="address_too_long",
            params={"address": address},
        )
    return local_part, domain


def normalize_address(address: str) -> str:
    """Return ``address`` in the form Postfix looks up: ``local@punycode``."""
    local_part, domain = split_address(address)
    return f"{local_part}@{domain}"


def parse_address_list(text: str) -> list[str]:
    """Parse addresses separated by commas, spaces or new lines.

    Every address is normalised and duplicates are dropped, keeping order.
    All errors are reported together so a form shows them at once.
    """
    addresses: list[str] = []
    errors: list[ValidationError] = []
    for item in re.split(r"[\s,;]+", text or ""):
        if not item:
            continue
        try:
            address = normalize_address(item)
        except ValidationError as exc:
            errors.append(exc)
            continue
        if address not in addresses:
            addresses.append(address)
    if errors:
        raise ValidationError(errors)
    if not addresses:
        raise ValidationError("Enter at least one address.", code="addresses_empty")
    return addresses
