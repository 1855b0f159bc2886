"""The mailbox owners' portal at /account/.

Every page acts on ``request.mailbox``, the mailbox of the session (see
``accounts.owners``); no URL or form names a mailbox, so there is no id to
change. The only exception is the reset link, whose id is bound to its HMAC.
"""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from accounts import lockout, services
from accounts.forms import (
    ForwardingForm,
    OwnerLoginForm,
    PasswordChangeForm,
    PasswordResetForm,
    PasswordResetRequestForm,
    RecoveryAddressForm,
    VacationForm,
)
from accounts.models import AuditEvent
from accounts.owners import (
    get_owner,
    owner_login,
    owner_logout,
    owner_required,
    owner_session_update,
)


def _post(request: HttpRequest) -> QueryDict | None:
    """Bind forms on POST only: an empty POST is still a submission."""
    return request.POST if request.method == "POST" else None


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next", "")
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("accounts:overview")


@sensitive_post_parameters("password")
@never_cache
def login(request: HttpRequest) -> HttpResponse:
    if get_owner(request) is not None:
        return redirect("accounts:overview")
    form = OwnerLoginForm(request, data=_post(request))
    if form.is_valid():
        owner_login(request, form.mailbox)
        services.audit_event_record(
            mailbox=form.mailbox,
            action=AuditEvent.Action.LOGIN,
            ip_address=lockout.client_ip(request),
        )
        return redirect(_next_url(request))
    if form.locked:
        return lockout.lockout_response(request, form.cleaned_data["username"])
    next_url = request.GET.get("next", "")
    return render(request, "accounts/login.html", {"form": form, "next": next_url})


@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    mailbox = get_owner(request)
    if mailbox is not None:
        services.audit_event_record(
            mailbox=mailbox,
            action=AuditEvent.Action.LOGOUT,
            ip_address=lockout.client_ip(request),
        )
    owner_logout(request)
    messages.info(request, "You have logged out.")
    return redirect("accounts:login")


@owner_required
def overview(request: HttpRequest) -> HttpResponse:
    context = services.mailbox_overview(request.mailbox)
    return render(request, "accounts/overview.html", context)


@sensitive_post_parameters()
@owner_required
def password_change(request: HttpRequest) -> HttpResponse:
    form = PasswordChangeForm(request, data=_post(request))
    if form.is_valid():
        form.save()
        owner_session_update(request, request.mailbox)
        messages.success(
            request,
            "Your password has been changed. Use the new one in your mail "
            "programs too; other portal sessions have been logged out.",
        )
        return redirect("accounts:overview")
    return render(request, "accounts/password_change.html", {"form": form})


@never_cache
def password_reset(request: HttpRequest) -> HttpResponse:
    form = PasswordResetRequestForm(data=_post(request))
    if form.is_valid():
        # The link is built from MAILPANEL_BASE_URL, not from this request.
        services.password_reset_request(
            address=form.cleaned_data["username"],
            ip_address=lockout.client_ip(request),
        )
        return redirect("accounts:password_reset_sent")
    return render(request, "accounts/password_reset.html", {"form": form})


def password_reset_sent(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/password_reset_sent.html")


@sensitive_post_parameters()
@never_cache
def password_reset_confirm(
    request: HttpRequest, uidb64: str, token: str
) -> HttpResponse:
    mailbox = services.password_reset_mailbox(uidb64, token)
    if mailbox is None:
        return render(request, "accounts/password_reset_invalid.html", status=404)
    form = PasswordResetForm(request, mailbox, data=_post(request))
    if form.is_valid():
        form.save()
        owner_logout(request)
        messages.success(request, "Your password has been reset. Log in with it.")
        return redirect("accounts:login")
    context = {"form": form, "mailbox": mailbox}
    return render(request, "accounts/password_reset_confirm.html", context)


@sensitive_post_parameters()
@owner_required
def recovery(request: HttpRequest) -> HttpResponse:
    form = RecoveryAddressForm(request, data=_post(request))
    if form.is_valid():
        form.save()
        messages.success(request, "Your recovery address has been saved.")
        return redirect("accounts:overview")
    return render(request, "accounts/recovery.html", {"form": form})


@sensitive_post_parameters()
@owner_required
def forwarding(request: HttpRequest) -> HttpResponse:
    form = ForwardingForm(request, data=_post(request))
    if form.is_valid():
        form.save()
        messages.success(request, "Forwarding has been saved.")
        return redirect("accounts:forwarding")
    context = {"form": form, "forward": form.forward}
    return render(request, "accounts/forwarding.html", context)


@owner_required
def vacation(request: HttpRequest) -> HttpResponse:
    form = VacationForm(request, data=_post(request))
    if form.is_valid():
        vacation = form.save()
        # Saved now; the mail hosts' workers write the script right after the
        # commit, so it is not live yet when this page is shown.
        if vacation.enabled:
            when = "The mail server starts using it within moments."
        else:
            when = "The mail server stops sending it within moments."
        messages.success(request, f"Your out-of-office reply has been saved. {when}")
        return redirect("accounts:vacation")
    return render(request, "accounts/vacation.html", {"form": form})
