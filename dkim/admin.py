"""DKIM keys in the admin: a read-only list, an import form, and actions.

Every write goes through dkim.services. The private key is never shown: no
field, column or message contains it, the import form never puts a pasted
key back into the page, and the add view keeps it out of error reports.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.views.decorators.debug import sensitive_post_parameters

from dkim import services
from dkim.forms import DkimGenerateForm, DkimKeyImportForm
from dkim.keys import txt_strings
from dkim.models import DkimKey


def _record_zone_text(key: DkimKey) -> str:
    strings = " ".join(f'"{s}"' for s in txt_strings(key.dns_record))
    return f"{key.record_name}. TXT {strings}"


@admin.register(DkimKey)
class DkimKeyAdmin(admin.ModelAdmin):
    form = DkimKeyImportForm
    list_display = [
        "record_name",
        "algorithm",
        "bits",
        "state",
        "imported",
        "created",
        "activated",
        "retire_after",
        "retired",
    ]
    list_filter = ["state", "algorithm", "domain"]
    list_select_related = ["domain"]
    search_fields = ["domain__name", "selector"]
    actions = ["rotate", "activate_published", "activate_forced"]
    fields = [
        "domain",
        "selector",
        "algorithm",
        "bits",
        "state",
        "imported",
        "record",
        "created",
        "activated",
        "retire_after",
        "retired",
    ]
    readonly_fields = fields
    add_fields = ["domain", "selector", "pem_file", "pem_text"]

    def get_fields(self, request: HttpRequest, obj=None):
        return self.add_fields if obj is None else self.fields

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return [] if obj is None else self.readonly_fields

    def get_urls(self):
        generate = path(
            "generate/",
            self.admin_site.admin_view(self.generate_view),
            name="dkim_dkimkey_generate",
        )
        return [generate, *super().get_urls()]

    @admin.display(description="record", ordering="selector")
    def record_name(self, key: DkimKey) -> str:
        return key.record_name

    @admin.display(description="TXT record to publish")
    def record(self, key: DkimKey) -> str:
        if not key.is_published:
            return "– (retired: remove it from DNS)"
        return format_html(
            '<pre style="white-space: pre-wrap; word-break: break-all">{}</pre>',
            _record_zone_text(key),
        )

    # --- import (the add view) -----------------------------------------------------

    @method_decorator(sensitive_post_parameters("pem_text"))
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        if object_id is None:
            extra_context["title"] = "Import a DKIM key"
        else:
            # Nothing on a key is edited by hand; its state moves by actions.
            extra_context.update(
                show_save=False,
                show_save_and_continue=False,
                show_save_and_add_another=False,
            )
        return super().changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request: HttpRequest, obj: DkimKey, form, change) -> None:
        if change:
            raise PermissionDenied
        data = form.cleaned_data
        key = services.dkim_key_import(
            domain=data["domain"], selector=data["selector"], pem=data["pem"]
        )
        # The service made the row; the admin carries on with it.
        obj.pk = key.pk
        obj.refresh_from_db()

    def delete_model(self, request: HttpRequest, obj: DkimKey) -> None:
        services.dkim_key_delete(key=obj)

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        for key in queryset:
            services.dkim_key_delete(key=key)

    # --- generate ------------------------------------------------------------------

    def generate_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        initial = {"domain": request.GET.get("domain")}
        form = DkimGenerateForm(request.POST or None, initial=initial)
        if request.method == "POST" and form.is_valid():
            domain = form.cleaned_data["domain"]
            try:
                created = services.dkim_key_generate(
                    domain=domain,
                    algorithms=form.cleaned_data["algorithms"],
                    bits=form.cleaned_data["bits"],
                )
            except services.DkimError as exc:
                form.add_error(None, str(exc))
            else:
                self._created(request, created)
                url = reverse("admin:dkim_dkimkey_changelist")
                return HttpResponseRedirect(f"{url}?domain__id__exact={domain.pk}")
        context = {
            **self.admin_site.each_context(request),
            "title": "Generate DKIM keys",
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/dkim/dkimkey/generate.html", context)

    def _created(self, request: HttpRequest, keys: list[DkimKey]) -> None:
        for key in keys:
            self.message_user(
                request,
                # Not starting with the selector: the admin capitalises messages.
                f"New {key.get_algorithm_display()} key {key.record_name}, pending. "
                f"Publish {_record_zone_text(key)}",
                messages.SUCCESS,
            )

    # --- actions -------------------------------------------------------------------

    @admin.action(
        description="Rotate: new pending keys for the selected keys' domains",
        permissions=["add"],
    )
    def rotate(self, request: HttpRequest, queryset) -> None:
        chosen: dict[int, tuple] = {}
        for key in queryset.select_related("domain"):
            domain, algorithms = chosen.get(key.domain_id, (key.domain, set()))
            chosen[key.domain_id] = (domain, algorithms | {key.algorithm})
        for domain, algorithms in chosen.values():
            try:
                created = services.dkim_key_rotate(
                    domain=domain, algorithms=sorted(algorithms, reverse=True)
                )
            except services.DkimError as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                self._created(request, created)

    @admin.action(
        description="Activate the selected pending keys (DNS must serve them)",
        permissions=["change"],
    )
    def activate_published(self, request: HttpRequest, queryset) -> None:
        self._activate(request, queryset, force=False)

    @admin.action(
        description="Force: activate the selected pending keys without DNS",
        permissions=["change"],
    )
    def activate_forced(self, request: HttpRequest, queryset) -> None:
        self._activate(request, queryset, force=True)

    def _activate(self, request: HttpRequest, queryset, *, force: bool) -> None:
        for key in queryset.select_related("domain"):
            try:
                key = services.dkim_key_activate(key=key, force=force)
            except (services.DkimError, ValidationError) as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                self.message_user(
                    request,
                    f"Activated {key.record_name}: the mail hosts sign with it.",
                    messages.SUCCESS,
                )
