"""Login rate limiting for the admin and the portal, with django-axes.

Two realms count apart: the admin (Django users, through ``authenticate()``)
and the portal (mailbox owners). In each, failures are counted per name and
client IP (``AXES_FAILURE_LIMIT``) and per client IP alone, with a higher
limit (``MAILPANEL_LOGIN_IP_FAILURE_LIMIT``). So a stranger elsewhere cannot
lock anyone out, not even by guessing at the portal with the superuser's
name, while one address guessing one password or many names is stopped.

Axes stores the name with its realm (``admin:root``,
``portal:alice@example.org``), through ``counted_username()``
(``AXES_USERNAME_CALLABLE``); ``LoginLockoutHandler`` (``AXES_HANDLER``)
keeps each counter within its realm and gives each its own limit.

Owners are not Django users, so Django's ``authenticate()`` (where Axes
usually hooks in) never sees them. The portal asks Axes directly instead:
``login_allowed()`` before checking a password, and a failure is reported
through Django's own ``user_login_failed`` signal, which Axes records. Only
the address goes into the credentials, so Axes never sees a password.
"""

import math

from axes.handlers.database import AxesDatabaseHandler
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import (
    get_client_ip_address,
    get_client_username,
    get_cool_off,
    get_failure_limit,
    get_lockout_parameters,
    get_lockout_response,
)
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from domains.addresses import normalize_address

ADMIN = "admin"
PORTAL = "portal"
REALMS = (ADMIN, PORTAL)
# The credentials key naming the realm; a login without it is the admin's.
REALM_KEY = "mailpanel_realm"
# AccessAttempt.username's length.
_MAX_COUNTED = 255


def login_key(address: str) -> str:
    """The address as Axes counts it: "Alice@X" and "alice@x" are one login."""
    try:
        return normalize_address(address)
    except ValidationError:
        return (address or "").strip().lower()[:254]


def _credentials(address: str) -> dict[str, str]:
    return {"username": login_key(address), REALM_KEY: PORTAL}


def counted_username(request: HttpRequest, credentials: dict | None) -> str:
    """``AXES_USERNAME_CALLABLE``: the name with its realm, ``admin:root``.

    Django's ``authenticate()`` passes the form's credentials, so every
    Django user's login is the admin's; the portal names its realm.
    """
    if credentials is None:
        # Axes' own fallback, for lockout pages drawn after the fact.
        data = getattr(request, "data", request.POST)
        credentials = {"username": data.get(settings.AXES_USERNAME_FORM_FIELD)}
    realm = credentials.get(REALM_KEY, ADMIN)
    name = credentials.get(settings.AXES_USERNAME_FORM_FIELD) or ""
    return f"{realm}:{name}"[:_MAX_COUNTED]


def _realm(counted: str | None) -> str:
    realm, _, _ = (counted or "").partition(":")
    return realm if realm in REALMS else ADMIN


def ip_failure_limit() -> int:
    """Failures from one client IP, whatever the names, before it is locked."""
    return settings.MAILPANEL_LOGIN_IP_FAILURE_LIMIT


class LoginLockoutHandler(AxesDatabaseHandler):
    """Axes' database handler, with each counter kept to its realm and a
    higher limit for the client IP alone.

    Axes keeps a row of failures per (name, IP, user agent) and counts, for
    each entry of ``AXES_LOCKOUT_PARAMETERS``, the rows it selects:
    ``["username", "ip_address"]`` those of this name from this IP,
    ``"ip_address"`` every row of this IP. Here only rows of the login's own
    realm count, and the IP's count has its own limit.
    """

    def filter_user_attempts(
        self, request: HttpRequest, credentials: dict | None = None
    ) -> list[QuerySet]:
        prefix = _realm(get_client_username(request, credentials)) + ":"
        return [
            attempts.filter(username__startswith=prefix)
            for attempts in super().filter_user_attempts(request, credentials)
        ]

    def get_failures(
        self, request: HttpRequest, credentials: dict | None = None
    ) -> int:
        """The failures, in units of ``AXES_FAILURE_LIMIT``, of the fullest counter.

        Axes compares this one number with ``AXES_FAILURE_LIMIT`` (to refuse
        a login, and to lock out after a failure). Each count is scaled from
        its own limit to that one, so the number reaches the limit exactly
        when some counter reaches its own.
        """
        limit = get_failure_limit(request, credentials)
        counters = zip(
            get_lockout_parameters(request, credentials),
            self.get_user_attempts(request, credentials),
            strict=True,
        )
        failures = 0
        for parameter, attempts in counters:
            count = attempts.aggregate(n=Sum("failures_since_start"))["n"] or 0
            own_limit = ip_failure_limit() if parameter == "ip_address" else limit
            failures = max(failures, count * limit // own_limit)
        return failures

    def reset_attempts(
        self,
        *,
        ip_address: str | None = None,
        username: str | None = None,
        ip_or_username: bool = False,
    ) -> int:
        """As Axes' (``manage.py axes_reset_username``), with names as operators
        know them: ``admin`` resets ``admin:admin`` and ``portal:admin``."""
        names = [username, *(f"{realm}:{username}" for realm in REALMS)]
        attempts = AccessAttempt.objects.all()
        if ip_or_username:
            attempts = attempts.filter(Q(ip_address=ip_address) | Q(username__in=names))
        else:
            if ip_address:
                attempts = attempts.filter(ip_address=ip_address)
            if username:
                attempts = attempts.filter(username__in=names)
        count, _ = attempts.delete()
        return count


def login_allowed(request: HttpRequest, address: str) -> bool:
    """False while this address, or the portal as a whole, is locked for the
    client's IP."""
    return AxesProxyHandler.is_allowed(request, _credentials(address))


def login_failed(request: HttpRequest, address: str) -> None:
    """Count a wrong password for ``address`` from this client."""
    user_login_failed.send(
        sender=__name__, credentials=_credentials(address), request=request
    )


def lockout_response(request: HttpRequest, address: str) -> HttpResponse:
    """Axes' lockout response: ``lockout_page()`` through AXES_LOCKOUT_CALLABLE."""
    return get_lockout_response(request, credentials=_credentials(address))


def lockout_page(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict | None = None,
) -> HttpResponse:
    """The lockout page in minutes, for people; Axes' own says "PT15M"."""
    cool_off = get_cool_off(request)
    context = {
        "minutes": math.ceil(cool_off.total_seconds() / 60) if cool_off else None,
    }
    return render(
        request,
        "accounts/locked_out.html",
        context,
        status=settings.AXES_HTTP_RESPONSE_CODE,
    )


def client_ip(request: HttpRequest) -> str | None:
    """The client's IP as Axes sees it, so the audit log and lockouts agree."""
    return get_client_ip_address(request)
