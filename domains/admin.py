"""The operator's UI for the mail data model.

List pages annotate their counts in one query (no per-row queries); every
write goes through Model.save()/delete() or domains.services so that the
lookup tables Postfix and Dovecot read stay in step.
"""

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from domains import services
from domains.forms import (
    ConfirmDomainDeleteForm,
    MailboxCreationForm,
    MailboxSetPasswordForm,
)
from domains.models import (
    Alias,
    Domain,
    DomainAlias,
    Forward,
    Mailbox,
    SendAsIdentity,
)
from domains.sizes import format_bytes


def _format_bytes(value: int | None) -> str:
    if not value:
        return "unlimited" if value == 0 else "–"
    return format_bytes(value)


class ActivateActionsMixin:
    actions = ["activate", "deactivate"]

    @admin.action(description="Activate selected %(verbose_name_plural)s")
    def activate(self, request: HttpRequest, queryset) -> None:
        count = services.objects_set_active(queryset=queryset, active=True)
        self.message_user(request, f"Activated {count}.", messages.SUCCESS)

    @admin.action(description="Deactivate selected %(verbose_name_plural)s")
    def deactivate(self, request: HttpRequest, queryset) -> None:
        count = services.objects_set_active(queryset=queryset, active=False)
        self.message_user(request, f"Deactivated {count}.", messages.SUCCESS)


class RowByRowDeleteMixin:
    """The list's "Delete selected" action goes through each row's delete().

    Django's default is one ``queryset.delete()``, which skips Model.delete():
    the lookup rows would go stale and deleted mailboxes keep their maildirs.
    """

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        services.objects_delete(queryset=queryset)


class DomainAliasInline(admin.TabularInline):
    model = DomainAlias
    fk_name = "target"
    extra = 0
    fields = ["name", "active"]


@admin.register(Domain)
class DomainAdmin(ActivateActionsMixin, admin.ModelAdmin):
    list_display = [
        "display_name",
        "active",
        "mailbox_count",
        "alias_count",
        "quota_allocated",
        "total_quota",
        "description",
    ]
    list_filter = ["active"]
    search_fields = ["name", "description"]
    inlines = [DomainAliasInline]
    actions = [*ActivateActionsMixin.actions, "delete_with_mailboxes"]
    fieldsets = [
        (None, {"fields": ["name", "active", "description"]}),
        (
            "Limits",
            {
                "fields": [
                    "max_mailboxes",
                    "max_aliases",
                    "quota",
                    "default_mailbox_quota",
                ]
            },
        ),
    ]

    def get_queryset(self, request: HttpRequest):
        # Counts come from correlated subqueries: joining both relations would
        # multiply rows, and per-row queries would grow with the page (N+1).
        aliases = (
            Alias.objects.filter(domain=OuterRef("pk"))
            .order_by()
            .values("domain")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(
                _mailbox_count=Count("mailboxes"),
                _quota_allocated=Coalesce(Sum("mailboxes__quota"), 0),
                _alias_count=Coalesce(Subquery(aliases), 0),
            )
        )

    def get_actions(self, request: HttpRequest):
        actions = super().get_actions(request)
        # Deleting a domain is only offered with explicit confirmation.
        actions.pop("delete_selected", None)
        return actions

    @admin.display(description="domain", ordering="name")
    def display_name(self, obj: Domain) -> str:
        return obj.display_name

    @admin.display(description="mailboxes", ordering="_mailbox_count")
    def mailbox_count(self, obj: Domain) -> int:
        return obj._mailbox_count

    @admin.display(description="aliases", ordering="_alias_count")
    def alias_count(self, obj: Domain) -> int:
        return obj._alias_count

    @admin.display(description="quota allocated", ordering="_quota_allocated")
    def quota_allocated(self, obj: Domain) -> str:
        return _format_bytes(obj._quota_allocated)

    @admin.display(description="total quota", ordering="quota")
    def total_quota(self, obj: Domain) -> str:
        return _format_bytes(obj.quota)

    @admin.action(
        description="Delete selected domains with all their mailboxes",
        permissions=["delete"],
    )
    def delete_with_mailboxes(self, request: HttpRequest, queryset):
        form = ConfirmDomainDeleteForm(
            request.POST if "confirm" in request.POST else None
        )
        if form.is_valid():
            for domain in queryset:
                services.domain_delete(domain=domain, delete_mailboxes=True)
            self.message_user(
                request, f"Deleted {len(queryset)} domain(s).", messages.SUCCESS
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Delete domains with their mailboxes?",
            "domains": queryset.annotate(n_mailboxes=Count("mailboxes")),
            "form": form,
            "opts": self.model._meta,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(
            request, "admin/domains/domain/delete_with_mailboxes.html", context
        )


@admin.register(DomainAlias)
class DomainAliasAdmin(ActivateActionsMixin, RowByRowDeleteMixin, admin.ModelAdmin):
    list_display = ["name", "target", "active", "updated"]
    list_filter = ["active"]
    list_select_related = ["target"]
    search_fields = ["name", "target__name"]
    autocomplete_fields = ["target"]


class ForwardInline(admin.StackedInline):
    model = Forward
    extra = 0
    max_num = 1
    fields = ["destinations", "keep_copy", "active"]


class SendAsIdentityInline(admin.TabularInline):
    model = SendAsIdentity
    extra = 0
    fields = ["address"]


@admin.register(Mailbox)
class MailboxAdmin(ActivateActionsMixin, RowByRowDeleteMixin, admin.ModelAdmin):
    list_display = [
        "address",
        "name",
        "quota_display",
        "active",
        "imap_enabled",
        "pop3_enabled",
        "smtp_enabled",
        "password_changed_at",
    ]
    list_filter = ["active", "imap_enabled", "pop3_enabled", "smtp_enabled", "domain"]
    list_select_related = ["domain"]
    search_fields = ["local_part", "domain__name", "name"]
    autocomplete_fields = ["domain"]
    inlines = [ForwardInline, SendAsIdentityInline]
    readonly_fields = ["password_link", "aliases_here", "created", "updated"]
    change_password_template = "admin/domains/mailbox/set_password.html"  # noqa: S105
    fieldsets = [
        (None, {"fields": ["domain", "local_part", "name", "password_link"]}),
        (
            "Limits and services",
            {
                "fields": [
                    "quota",
                    "active",
                    "imap_enabled",
                    "pop3_enabled",
                    "smtp_enabled",
                ]
            },
        ),
        ("Aliases", {"fields": ["aliases_here"]}),
        ("History", {"fields": ["created", "updated"]}),
    ]
    add_fieldsets = [
        (None, {"fields": ["domain", "local_part", "name", "password1", "password2"]}),
        (
            "Limits and services",
            {
                "fields": [
                    "quota",
                    "active",
                    "imap_enabled",
                    "pop3_enabled",
                    "smtp_enabled",
                ]
            },
        ),
    ]

    def get_fieldsets(self, request: HttpRequest, obj=None):
        return self.add_fieldsets if obj is None else self.fieldsets

    def get_form(self, request: HttpRequest, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = MailboxCreationForm
        return super().get_form(request, obj, **kwargs)

    def get_inlines(self, request: HttpRequest, obj):
        return self.inlines if obj is not None else []

    def get_urls(self):
        return [
            path(
                "<id>/password/",
                self.admin_site.admin_view(self.set_password_view),
                name="domains_mailbox_password",
            ),
            *super().get_urls(),
        ]

    @admin.display(description="address", ordering="local_part")
    def address(self, obj: Mailbox) -> str:
        return f"{obj.local_part}@{obj.domain.display_name}"

    @admin.display(description="quota", ordering="quota")
    def quota_display(self, obj: Mailbox) -> str:
        return _format_bytes(obj.quota)

    @admin.display(description="password")
    def password_link(self, obj: Mailbox) -> str:
        if obj.pk is None:
            return "–"
        url = reverse("admin:domains_mailbox_password", args=[obj.pk])
        return format_html('<a href="{}">Set a new password</a>', url)

    @admin.display(description="aliases that deliver here")
    def aliases_here(self, obj: Mailbox) -> str:
        if obj.pk is None:
            return "–"
        aliases = Alias.objects.filter(
            destinations__icontains=obj.address
        ).select_related("domain")
        aliases = [a for a in aliases if obj.address in a.destination_list]
        if not aliases:
            return "none"
        return format_html_join(
            ", ",
            '<a href="{}">{}</a>',
            (
                (reverse("admin:domains_alias_change", args=[a.pk]), a.source)
                for a in aliases
            ),
        )

    def set_password_view(self, request: HttpRequest, id: str) -> HttpResponse:
        mailbox = get_object_or_404(
            Mailbox.objects.select_related("domain"), pk=unquote(id)
        )
        if not self.has_change_permission(request, mailbox):
            raise PermissionDenied
        form = MailboxSetPasswordForm(mailbox, request.POST or None)
        if request.method == "POST" and form.is_valid():
            form.save()
            self.log_change(request, mailbox, "Changed password.")
            self.message_user(
                request, f"Password of {mailbox} changed.", messages.SUCCESS
            )
            return HttpResponseRedirect(
                reverse("admin:domains_mailbox_change", args=[mailbox.pk])
            )
        context = {
            **self.admin_site.each_context(request),
            "title": f"Set the password of {mailbox}",
            "form": form,
            "original": mailbox,
            "opts": self.model._meta,
            "adminform": admin.helpers.AdminForm(
                form, [(None, {"fields": list(form.base_fields)})], {}
            ),
        }
        return TemplateResponse(request, self.change_password_template, context)


@admin.register(Alias)
class AliasAdmin(ActivateActionsMixin, RowByRowDeleteMixin, admin.ModelAdmin):
    list_display = ["source_display", "destination_display", "active", "description"]
    list_filter = ["active", "domain"]
    list_select_related = ["domain"]
    search_fields = ["local_part", "domain__name", "destinations", "description"]
    autocomplete_fields = ["domain"]

    @admin.display(description="source", ordering="local_part")
    def source_display(self, obj: Alias) -> str:
        local_part = obj.local_part or "* (catch-all)"
        return f"{local_part}@{obj.domain.display_name}"

    @admin.display(description="destinations")
    def destination_display(self, obj: Alias) -> str:
        return ", ".join(obj.destination_list)


@admin.register(Forward)
class ForwardAdmin(RowByRowDeleteMixin, admin.ModelAdmin):
    list_display = ["mailbox", "destination_display", "keep_copy", "active"]
    list_filter = ["active", "keep_copy"]
    list_select_related = ["mailbox__domain"]
    search_fields = ["mailbox__local_part", "mailbox__domain__name", "destinations"]
    autocomplete_fields = ["mailbox"]

    @admin.display(description="destinations")
    def destination_display(self, obj: Forward) -> str:
        return ", ".join(obj.destination_list)


@admin.register(SendAsIdentity)
class SendAsIdentityAdmin(RowByRowDeleteMixin, admin.ModelAdmin):
    list_display = ["address", "mailbox"]
    list_select_related = ["mailbox__domain"]
    search_fields = ["address", "mailbox__local_part", "mailbox__domain__name"]
    autocomplete_fields = ["mailbox"]
