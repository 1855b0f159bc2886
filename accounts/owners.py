"""Who is logged in to the portal: a mailbox, kept apart from Django's auth.

A mailbox owner is never a ``django.contrib.auth`` user. The session holds
the mailbox's id under a key of its own and an HMAC of its password hash;
``request.user`` stays anonymous, so nothing in the admin (or anything else
that trusts ``request.user``) ever treats an owner as staff.

Every password change stores a new hash (with a new salt), so the HMAC kept
in other sessions no longer matches and those sessions end at their next
request, as Django does for its users.
"""

from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.contrib.auth import SESSION_KEY as DJANGO_USER_SESSION_KEY
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import rotate_token
from django.urls import reverse
from django.utils.crypto import constant_time_compare, salted_hmac
from django.views.decorators.cache import never_cache

from domains import passwords
from domains.addresses import split_address
from domains.models import Mailbox

MAILBOX_SESSION_KEY = "_portal_mailbox_id"
HASH_SESSION_KEY = "_portal_mailbox_hash"


def owner_mailboxes() -> QuerySet[Mailbox]:
    """Mailboxes that may use the portal: those Dovecot would let log in."""
    return Mailbox.objects.select_related("domain").filter(
        active=True, domain__active=True
    )


def authenticate_owner(address: str, password: str) -> Mailbox | None:
    """The active mailbox at ``address`` if ``password`` is its password.

    Every failure costs at least one verification in the configured scheme
    at the configured costs, so response times tell neither which addresses
    exist nor which still have an old hash. A correct password in an old
    scheme is rehashed by ``Mailbox.check_password()``.
    """
    try:
        local_part, domain = split_address(address)
    except ValidationError:
        mailbox = None
    else:
        mailbox = (
            owner_mailboxes().filter(local_part=local_part, domain__name=domain).first()
        )
    if mailbox is None:
        passwords.dummy_verify(password)
        return None
    if mailbox.check_password(password):
        return mailbox
    if passwords.needs_rehash(mailbox.password):
        # An imported or cheaper hash verifies faster (SHA512-CRYPT: 57 ms a
        # login against 78 ms): add the current scheme's cost, as Django's
        # harden_runtime() does for its own old hashes.
        passwords.dummy_verify(password)
    return None


def session_hash(mailbox: Mailbox) -> str:
    return salted_hmac(
        "accounts.owners.session_hash", mailbox.password, algorithm="sha256"
    ).hexdigest()


def owner_login(request: HttpRequest, mailbox: Mailbox) -> None:
    """Start an owner session with a new session key and CSRF token.

    A session that belongs to someone else (another mailbox or an admin) is
    emptied first, so logging in never inherits anyone's rights.
    """
    session = request.session
    previous = session.get(MAILBOX_SESSION_KEY)
    if DJANGO_USER_SESSION_KEY in session or previous not in (None, mailbox.pk):
        session.flush()
    else:
        session.cycle_key()
    session[MAILBOX_SESSION_KEY] = mailbox.pk
    session[HASH_SESSION_KEY] = session_hash(mailbox)
    session.set_expiry(settings.MAILPANEL_PORTAL_SESSION_AGE)
    rotate_token(request)
    request.mailbox = mailbox


def owner_session_update(request: HttpRequest, mailbox: Mailbox) -> None:
    """Keep this session after its own password change; others end."""
    request.session.cycle_key()
    request.session[HASH_SESSION_KEY] = session_hash(mailbox)


def owner_logout(request: HttpRequest) -> None:
    request.session.flush()
    request.mailbox = None


def get_owner(request: HttpRequest) -> Mailbox | None:
    """The logged-in mailbox, or None (and an emptied session) if it is stale."""
    pk = request.session.get(MAILBOX_SESSION_KEY)
    if pk is None:
        return None
    mailbox = owner_mailboxes().filter(pk=pk).first()
    stored = request.session.get(HASH_SESSION_KEY, "")
    if mailbox is None or not constant_time_compare(stored, session_hash(mailbox)):
        request.session.flush()
        return None
    return mailbox


def owner_required(
    view: Callable[..., HttpResponse],
) -> Callable[..., HttpResponse]:
    """Run ``view`` with ``request.mailbox`` set, or send the client to log in.

    Portal views act on ``request.mailbox`` only and take no ids, so no URL
    or form field can point them at another mailbox. Pages are never cached:
    after logging out, "back" on a shared computer shows nothing.
    """

    @never_cache
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        mailbox = get_owner(request)
        if mailbox is None:
            return redirect_to_login(
                request.get_full_path(), login_url=reverse("accounts:login")
            )
        request.mailbox = mailbox
        return view(request, *args, **kwargs)

    return wrapper
