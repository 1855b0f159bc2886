"""Login rate limiting for mailbox owners, with django-axes.

Owners are not Django users, so Django's ``authenticate()`` (where Axes
usually hooks in) never sees them. The portal asks Axes directly instead:
``login_allowed()`` before checking a password, and a failure is reported
through Django's own ``user_login_failed`` signal, which Axes records. Only
the address goes into the credentials, so Axes never sees a password.
"""

import math

from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import (
    get_client_ip_address,
    get_cool_off,
    get_failure_limit,
    get_lockout_response,
)
from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from domains.addresses import normalize_address


def login_key(address: str) -> str:
    """The address as Axes counts it: "Alice@X" and "alice@x" are one login."""
    try:
        return normalize_address(address)
    except ValidationError:
        return (address or "").strip().lower()[:254]


def _credentials(address: str) -> dict[str, str]:
    return {"username": login_key(address)}


def login_allowed(request: HttpRequest, address: str) -> bool:
    """False while the client's IP or this address is locked out."""
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
        "failure_limit": get_failure_limit(request, credentials),
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
