"""Forms of the DKIM admin: importing a key, generating a domain's keys.

The pasted private key is write-only: a form shown again with errors never
puts it back into the page (``WriteOnlyTextarea``), and the admin keeps it out
of error reports (sensitive_post_parameters).
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from dkim import keys, services
from dkim.models import DkimKey
from domains.models import Domain

MAX_PEM_BYTES = 64 * 1024


class WriteOnlyTextarea(forms.Textarea):
    def format_value(self, value):
        return None


class DkimKeyImportForm(forms.ModelForm):
    """Domain, selector and the PEM, uploaded or pasted; checked by the service."""

    pem_file = forms.FileField(
        label="Private key file (PEM)",
        required=False,
        help_text="PKCS#8 or PKCS#1, not encrypted: RSA of 1024 bits or more, "
        "or Ed25519.",
    )
    pem_text = forms.CharField(
        label="or paste it",
        required=False,
        strip=False,
        widget=WriteOnlyTextarea(attrs={"rows": 6, "autocomplete": "off"}),
        help_text="Stored encrypted and never shown again.",
    )

    class Meta:
        model = DkimKey
        fields = ["domain", "selector"]
        help_texts = {
            "selector": "The selector the key is published under now (s= in its "
            "signatures), e.g. mail or default."
        }

    def clean(self):
        data = super().clean()
        upload = data.get("pem_file")
        if upload is not None:
            if upload.size > MAX_PEM_BYTES:
                self.add_error("pem_file", "This file is too large for a PEM key.")
                return data
            pem: bytes | str = upload.read()
        else:
            pem = data.get("pem_text") or ""
        if not pem:
            self.add_error("pem_text", "Upload the private key file or paste it.")
            return data
        domain = data.get("domain")
        if domain is None:
            return data
        try:
            services.dkim_key_import_check(
                domain=domain, selector=data.get("selector", ""), pem=pem
            )
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                target = field
                if field != "selector":
                    target = "pem_file" if upload is not None else "pem_text"
                if target not in self.errors:  # said once, by the field itself
                    self.add_error(target, messages)
        else:
            data["pem"] = pem
        return data

    def validate_unique(self) -> None:
        # The service says it, with the domain's name, in clean().
        pass


class DkimGenerateForm(forms.Form):
    domain = forms.ModelChoiceField(queryset=Domain.objects.order_by("name"))
    algorithms = forms.MultipleChoiceField(
        choices=DkimKey.Algorithm.choices,
        initial=list(services.DEFAULT_ALGORITHMS),
        widget=forms.CheckboxSelectMultiple,
        help_text="Both by default: receivers that know Ed25519 check that "
        "signature, the others the RSA one.",
    )
    bits = forms.TypedChoiceField(
        label="RSA key size",
        choices=[(b, f"{b} bits") for b in keys.RSA_GENERATE_BITS],
        coerce=int,
        initial=keys.RSA_DEFAULT_BITS,
    )
