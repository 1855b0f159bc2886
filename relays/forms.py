from django import forms
from django.core.exceptions import ImproperlyConfigured, ValidationError

from relays.models import RelayHost


class RelayHostForm(forms.ModelForm):
    """The password is write-only: never put in the page, blank keeps it."""

    password = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Stored encrypted and never shown again. Leave empty to keep "
        "the current password.",
    )

    class Meta:
        model = RelayHost
        fields = [
            "name",
            "host",
            "port",
            "security",
            "username",
            "is_default",
            "spf_include",
        ]

    def clean(self):
        data = super().clean()
        password = data.get("password")
        if password:
            # Before the model's clean(), which requires a stored password.
            try:
                self.instance.set_password(password)
            except ValidationError as exc:
                self.add_error("password", exc.message_dict.get("password"))
            except ImproperlyConfigured as exc:
                self.add_error("password", str(exc))
        return data
