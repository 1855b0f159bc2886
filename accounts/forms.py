"""Forms of the mailbox owners' portal.

Each form is bound to the logged-in mailbox (never to an id from the
request), validates everything in ``is_valid()`` and writes through
``accounts.services`` in ``save()``.
"""

from datetime import timedelta

from django import forms
from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils import timezone

from accounts import lockout, services
from accounts.models import (
    MAX_REPLY_DAYS,
    MIN_REPLY_DAYS,
    AuditEvent,
    RecoveryAddress,
    Vacation,
)
from accounts.owners import authenticate_owner, owner_session_update
from domains.forms import MailboxPasswordFields
from domains.models import Forward, Mailbox

LOCKED_MESSAGE = "Too many wrong passwords. Wait a few minutes and try again."


def _password_input(autocomplete: str) -> forms.PasswordInput:
    return forms.PasswordInput(attrs={"autocomplete": autocomplete})


def _address_input(autocomplete: str, **attrs) -> forms.TextInput:
    # Not type="email": some browsers refuse internationalised domains there.
    return forms.TextInput(
        attrs={
            "autocomplete": autocomplete,
            "inputmode": "email",
            "autocapitalize": "none",
            "spellcheck": "false",
            **attrs,
        }
    )


class OwnerLoginForm(forms.Form):
    """Mail address and mailbox password, checked like Dovecot checks them."""

    username = forms.CharField(
        label="Mail address",
        max_length=254,
        widget=_address_input("username", autofocus=True),
    )
    password = forms.CharField(
        label="Password", strip=False, widget=_password_input("current-password")
    )

    def __init__(self, request: HttpRequest, *args, **kwargs) -> None:
        self.request = request
        self.mailbox: Mailbox | None = None
        self.locked = False
        super().__init__(*args, **kwargs)

    def clean(self) -> dict:
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is None or password is None:
            return self.cleaned_data
        if not lockout.login_allowed(self.request, username):
            self.locked = True
            raise ValidationError(LOCKED_MESSAGE, code="locked")
        self.mailbox = authenticate_owner(username, password)
        if self.mailbox is None:
            lockout.login_failed(self.request, username)
            raise ValidationError(
                "This address and password do not match an active mailbox.",
                code="invalid_login",
            )
        return self.cleaned_data


class NewPasswordForm(MailboxPasswordFields):
    """The admin's two password fields, also refusing passwords like the address."""

    def __init__(self, request: HttpRequest, mailbox: Mailbox, *args, **kwargs) -> None:
        self.request = request
        self.mailbox = mailbox
        super().__init__(*args, **kwargs)
        # Beside "Current password", a bare "Password" reads ambiguously.
        self.fields["password1"].label = "New password"
        self.fields["password2"].label = "New password (again)"

    def clean_password2(self) -> str:
        password1 = self.cleaned_data.get("password1")
        password2 = self.cleaned_data["password2"]
        if password1 and password1 != password2:
            raise ValidationError("The two passwords differ.", code="mismatch")
        # UserAttributeSimilarityValidator reads a user's fields and their
        # verbose names; an unsaved User carries the mailbox's for it. Nothing
        # is saved: owners are never Django users.
        owner = User(
            username=self.mailbox.local_part,
            email=self.mailbox.address,
            first_name=self.mailbox.name,
        )
        validate_password(password2, user=owner)
        return password2


class CurrentPasswordMixin(forms.Form):
    """A current-password field, rate-limited like the login.

    Whoever holds a stolen session must not be able to guess the password
    (which also opens IMAP and SMTP) through these forms.
    """

    current_password = forms.CharField(
        label="Current password",
        strip=False,
        widget=_password_input("current-password"),
    )

    def clean_current_password(self) -> str:
        password = self.cleaned_data["current_password"]
        address = self.mailbox.address
        if not lockout.login_allowed(self.request, address):
            raise ValidationError(LOCKED_MESSAGE, code="locked")
        stored_hash = self.mailbox.password
        if not self.mailbox.check_password(password):
            lockout.login_failed(self.request, address)
            raise ValidationError(
                "Your current password is not correct.", code="password_incorrect"
            )
        if self.mailbox.password != stored_hash:
            # check_password() upgraded the hash (the scheme or its cost changed
            # since the login); this session follows, or it would end itself.
            owner_session_update(self.request, self.mailbox)
        return password


class PasswordChangeForm(CurrentPasswordMixin, NewPasswordForm):
    field_order = ["current_password", "password1", "password2"]

    def __init__(self, request: HttpRequest, *args, **kwargs) -> None:
        super().__init__(request, request.mailbox, *args, **kwargs)

    def clean(self) -> dict:
        current = self.cleaned_data.get("current_password")
        if current and current == self.cleaned_data.get("password2"):
            self.add_error(
                "password2", "The new password is the same as the current one."
            )
        return self.cleaned_data

    def save(self) -> None:
        services.owner_password_set(
            mailbox=self.mailbox,
            password=self.cleaned_data["password2"],
            ip_address=lockout.client_ip(self.request),
        )


class PasswordResetRequestForm(forms.Form):
    username = forms.CharField(
        label="Mail address",
        max_length=254,
        widget=_address_input("username"),
    )


class PasswordResetForm(NewPasswordForm):
    """The new password, once the reset link has been checked."""

    def save(self) -> None:
        services.owner_password_set(
            mailbox=self.mailbox,
            password=self.cleaned_data["password2"],
            ip_address=lockout.client_ip(self.request),
            action=AuditEvent.Action.PASSWORD_RESET,
        )


class _OwnerForm(forms.Form):
    """A form about the session's own mailbox, and nothing else."""

    def __init__(self, request: HttpRequest, *args, **kwargs) -> None:
        self.request = request
        self.mailbox: Mailbox = request.mailbox
        super().__init__(*args, **kwargs)


class RecoveryAddressForm(CurrentPasswordMixin, _OwnerForm):
    address = forms.CharField(
        label="Recovery address",
        max_length=254,
        required=False,
        widget=_address_input("email"),
        help_text="Password reset links go here. Leave empty to remove it.",
    )
    field_order = ["address", "current_password"]

    def __init__(self, request: HttpRequest, *args, **kwargs) -> None:
        current = RecoveryAddress.objects.filter(mailbox=request.mailbox).first()
        kwargs.setdefault("initial", {"address": current.address if current else ""})
        super().__init__(request, *args, **kwargs)

    def clean_address(self) -> str:
        address = self.cleaned_data["address"].strip()
        if address:
            recovery = RecoveryAddress(mailbox=self.mailbox, address=address)
            try:
                recovery.clean()
            except ValidationError as exc:
                raise ValidationError(exc.messages) from None
            address = recovery.address
        return address

    def save(self) -> None:
        services.recovery_address_set(
            mailbox=self.mailbox,
            address=self.cleaned_data["address"],
            ip_address=lockout.client_ip(self.request),
        )


class ForwardingForm(CurrentPasswordMixin, _OwnerForm):
    """Forward addresses; a new one needs the current password.

    Only a new address: removing one, or the kept copy, sends mail to no one
    new (accounts.services.owner_forward_set).
    """

    destinations = forms.CharField(
        label="Forward to",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "autocomplete": "off"}),
        help_text="One address per line. Leave empty to stop forwarding.",
    )
    keep_copy = forms.BooleanField(
        label="Keep a copy in this mailbox", required=False, initial=True
    )
    field_order = ["destinations", "keep_copy", "current_password"]

    def __init__(self, request: HttpRequest, *args, **kwargs) -> None:
        self.forward = Forward.objects.filter(mailbox=request.mailbox).first()
        if self.forward is not None:
            kwargs.setdefault(
                "initial",
                {
                    "destinations": self.forward.destinations,
                    "keep_copy": self.forward.keep_copy,
                },
            )
        super().__init__(request, *args, **kwargs)
        password = self.fields["current_password"]
        password.required = False
        password.help_text = "Needed to forward to an address not listed before."

    def clean_current_password(self) -> str:
        if self.cleaned_data.get("current_password"):
            return super().clean_current_password()
        try:
            added = services.forward_added_destinations(
                mailbox=self.mailbox,
                destinations=self.cleaned_data.get("destinations", ""),
            )
        except ValidationError:
            return ""  # clean() reports the list itself
        if added:
            raise ValidationError(
                services.NEW_FORWARD_MESSAGE, code="password_required"
            )
        return ""

    def clean(self) -> dict:
        destinations = self.cleaned_data.get("destinations", "")
        if destinations.strip():
            # The same checks as the admin's: Forward.full_clean() on the row
            # that would be saved (loops, forwarding to itself, bad addresses).
            forward = self.forward or Forward(mailbox=self.mailbox)
            forward.destinations = destinations
            forward.keep_copy = self.cleaned_data.get("keep_copy", False)
            try:
                forward.full_clean()
            except ValidationError as exc:
                self.add_error(None, exc)
        return self.cleaned_data

    def save(self) -> None:
        services.owner_forward_set(
            mailbox=self.mailbox,
            destinations=self.cleaned_data["destinations"],
            keep_copy=self.cleaned_data["keep_copy"],
            ip_address=lockout.client_ip(self.request),
            # Only set when clean_current_password() checked it.
            password_checked=bool(self.cleaned_data["current_password"]),
        )


class VacationForm(forms.ModelForm):
    class Meta:
        model = Vacation
        fields = ["enabled", "subject", "message", "start", "end", "reply_days"]
        labels = {"enabled": "Send an out-of-office reply"}
        widgets = {
            "start": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "end": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "message": forms.Textarea(attrs={"rows": 6}),
            "reply_days": forms.NumberInput(
                attrs={"min": MIN_REPLY_DAYS, "max": MAX_REPLY_DAYS}
            ),
        }

    def __init__(self, request: HttpRequest, *args, **kwargs) -> None:
        self.request = request
        self.mailbox: Mailbox = request.mailbox
        mailbox = self.mailbox
        instance = Vacation.objects.filter(mailbox=mailbox).first()
        if instance is None:
            today = timezone.localdate()
            instance = Vacation(
                mailbox=mailbox,
                subject="Out of office",
                start=today,
                end=today + timedelta(days=7),
            )
        super().__init__(*args, instance=instance, **kwargs)

    def clean(self) -> dict:
        cleaned = super().clean()
        end = cleaned.get("end")
        if cleaned.get("enabled") and end and end < timezone.localdate():
            self.add_error("end", "The last day has already passed.")
        return cleaned

    def save(self) -> Vacation:  # type: ignore[override]
        """Save the row; the mail hosts' workers install or remove the script.

        Nothing here touches the mail server (docs/workers.md), so nothing
        can fail after validation but the database itself.
        """
        fields = {name: self.cleaned_data[name] for name in self.Meta.fields}
        return services.vacation_set(
            mailbox=self.mailbox,
            ip_address=lockout.client_ip(self.request),
            **fields,
        )
