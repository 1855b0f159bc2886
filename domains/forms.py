"""Forms of the mail data model's admin pages."""

from django import forms
from django.contrib.auth.password_validation import (
    password_validators_help_text_html,
    validate_password,
)
from django.core.exceptions import ValidationError

from domains.models import Mailbox


class MailboxPasswordFields(forms.Form):
    """Two password fields checked against each other and Django's validators."""

    password1 = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validators_help_text_html(),
    )
    password2 = forms.CharField(
        label="Password (again)",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean_password2(self) -> str:
        password1 = self.cleaned_data.get("password1")
        password2 = self.cleaned_data["password2"]
        if password1 and password1 != password2:
            raise ValidationError("The two passwords differ.", code="mismatch")
        validate_password(password2)
        return password2


class MailboxCreationForm(forms.ModelForm, MailboxPasswordFields):
    class Meta:
        model = Mailbox
        fields = [
            "domain",
            "local_part",
            "name",
            "quota",
            "active",
            "imap_enabled",
            "pop3_enabled",
            "smtp_enabled",
        ]

    def _post_clean(self) -> None:
        # The hash must be set before Mailbox.clean() and save(): a mailbox
        # without one would be written to the lookup tables with no password.
        password = self.cleaned_data.get("password2")
        if password:
            self.instance.set_password(password)
        super()._post_clean()


class MailboxSetPasswordForm(MailboxPasswordFields):
    def __init__(self, mailbox: Mailbox, *args, **kwargs) -> None:
        self.mailbox = mailbox
        super().__init__(*args, **kwargs)

    def save(self) -> Mailbox:
        from domains.services import mailbox_set_password

        mailbox_set_password(
            mailbox=self.mailbox, password=self.cleaned_data["password2"]
        )
        return self.mailbox


class ConfirmDomainDeleteForm(forms.Form):
    confirm = forms.BooleanField(
        required=True,
        label="Yes, delete these domains with all their mailboxes and aliases.",
    )
