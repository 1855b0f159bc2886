"""The operator's UI for the mail data model.

List pages annotate their counts in one query (no per-row queries); every
write goes through Model.save()/delete() or domains.services so that the
lookup tables Postfix and Dovecot read stay in step.
"""

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count, F, Sum
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html, format_html_join
from django.views.decorators.debug import sensitive_post_parameters

from domains import search, services
from domains.addresses import display_domain
from domains.admin_lists import DomainFilter, domain_link, format_quota, per_domain
from domains.confusables import mixed_script_labels
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
from domains.secrets import SecretFieldsAdminMixin


def warn_mixed_scripts(model_admin, request: HttpRequest, name: str) -> None:
    """Warn, without refusing, about a name that may pass for another one.

    A label mixing scripts (UTS #39, domains.confusables) is how a homograph
    such as a Cyrillic "а" in example.test is made; real names do it rarely.
    """
    for label, scripts in mixed_script_labels(name):
        model_admin.message_user(
            request,
            f"{display_domain(name)} ({name}): the label “{label}” mixes "
            f"{' and '.join(sorted(scripts))} letters, so it can pass for "
            "another name. It is saved; check that it is the name you meant.",
            messages.WARNING,
        )


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
class DomainAdmin(SecretFieldsAdminMixin, ActivateActionsMixin, admin.ModelAdmin):
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
    # The paginator's COUNT already counts the filtered list; a second COUNT
    # of the whole table only adds "(N total)" beside the result count.
    show_full_result_count = False
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
        # One correlated subquery per count, evaluated only for the rows of
        # the page: joining the relations with a GROUP BY would multiply
        # mailboxes by aliases and make every COUNT of the list (the
        # paginator's) aggregate the whole join; per-row queries would grow
        # with the page (N+1).
        return (
            super()
            .get_queryset(request)
            .annotate(
                _mailbox_count=per_domain(Mailbox, Count("pk")),
                _quota_allocated=per_domain(Mailbox, Sum("quota")),
                _alias_count=per_domain(Alias, Count("pk")),
            )
        )

    def save_model(self, request: HttpRequest, obj: Domain, form, change) -> None:
        super().save_model(request, obj, form, change)
        warn_mixed_scripts(self, request, obj.name)

    def save_formset(self, request: HttpRequest, form, formset, change) -> None:
        super().save_formset(request, form, formset, change)
        changed = [obj for obj, _ in formset.changed_objects]
        for alias in [*formset.new_objects, *changed]:
            if isinstance(alias, DomainAlias):
                warn_mixed_scripts(self, request, alias.name)

    def get_actions(self, request: HttpRequest):
        actions = super().get_actions(request)
        # Deleting a domain is only offered with explicit confirmation.
        actions.pop("delete_selected", None)
        return actions

    @admin.display(description="domain", ordering="name")
    def display_name(self, obj: Domain) -> str:
        return obj.display_name

    @admin.display(description="mailboxes", ordering="_mailbox_count")
    def mailbox_count(self, obj: Domain) -> str:
        return domain_link("admin:domains_mailbox_changelist", obj, obj._mailbox_count)

    @admin.display(description="aliases", ordering="_alias_count")
    def alias_count(self, obj: Domain) -> str:
        return domain_link("admin:domains_alias_changelist", obj, obj._alias_count)

    @admin.display(description="quota allocated", ordering="_quota_allocated")
    def quota_allocated(self, obj: Domain) -> str:
        return format_quota(obj._quota_allocated)

    @admin.display(description="total quota", ordering="quota")
    def total_quota(self, obj: Domain) -> str:
        return format_quota(obj.quota)

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
            "domains": queryset.annotate(n_mailboxes=F("_mailbox_count")),
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

    def save_model(self, request: HttpRequest, obj: DomainAlias, form, change) -> None:
        super().save_model(request, obj, form, change)
        warn_mixed_scripts(self, request, obj.name)


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
class MailboxAdmin(
    SecretFieldsAdminMixin, ActivateActionsMixin, RowByRowDeleteMixin, admin.ModelAdmin
):
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
    list_filter = [
        "active",
        "imap_enabled",
        "pop3_enabled",
        "smtp_enabled",
        DomainFilter,
    ]
    list_select_related = ["domain"]
    # Only shows the search box: get_search_results() does the searching.
    search_fields = ["local_part", "domain__name", "name"]
    search_help_text = (
        "Part of a local part, domain or display name; with an @, part of the "
        "address (anna@exa finds joanna@example.org)."
    )
    show_full_result_count = False
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

    def get_queryset(self, request: HttpRequest):
        # The change page's title and its aliases read the address, which
        # needs the domain: joined here rather than fetched on its own.
        return super().get_queryset(request).select_related("domain")

    def get_search_results(self, request: HttpRequest, queryset, search_term: str):
        # Index-backed, unlike the default OR of UPPER(...) LIKE over a join;
        # it joins nothing, so it cannot return a row twice.
        return search.mailbox_search(queryset, search_term), False

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
        return format_quota(obj.quota)

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
        aliases = search.aliases_delivering_to(obj.address).select_related("domain")
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

    # Error reports (mailed to ADMINS with DEBUG off) show stars instead.
    @method_decorator(sensitive_post_parameters("password1", "password2"))
    def add_view(self, request: HttpRequest, form_url="", extra_context=None):
        return super().add_view(request, form_url, extra_context)

    @method_decorator(sensitive_post_parameters("password1", "password2"))
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
    list_filter = ["active", DomainFilter]
    list_select_related = ["domain"]
    # Only shows the search box: get_search_results() does the searching.
    search_fields = ["local_part", "domain__name", "destinations", "description"]
    search_help_text = (
        "Part of a local part, domain, destination or description; with an @, "
        "part of the address or of a destination."
    )
    show_full_result_count = False
    autocomplete_fields = ["domain"]

    def get_search_results(self, request: HttpRequest, queryset, search_term: str):
        # As for mailboxes: index-backed, and it joins nothing.
        return search.alias_search(queryset, search_term), False

    @admin.display(description="source", ordering="local_part")
    def source_display(self, obj: Alias) -> str:
        local_part = obj.local_part or "* (catch-all)"
        return f"{local_part}@{obj.domain.display_name}"

    @admin.display(description="destinations")
    def destination_display(self, obj: Alias) -> str:
        return ", ".join(obj.destination_list)


@admin.register(Forward)
class ForwardAdmin(SecretFieldsAdminMixin, RowByRowDeleteMixin, admin.ModelAdmin):
    list_display = ["mailbox", "destination_display", "keep_copy", "active"]
    list_filter = ["active", "keep_copy"]
    list_select_related = ["mailbox__domain"]
    search_fields = ["mailbox__local_part", "mailbox__domain__name", "destinations"]
    autocomplete_fields = ["mailbox"]

    @admin.display(description="destinations")
    def destination_display(self, obj: Forward) -> str:
        return ", ".join(obj.destination_list)


@admin.register(SendAsIdentity)
class SendAsIdentityAdmin(
    SecretFieldsAdminMixin, RowByRowDeleteMixin, admin.ModelAdmin
):
    list_display = ["address", "mailbox"]
    list_select_related = ["mailbox__domain"]
    search_fields = ["address", "mailbox__local_part", "mailbox__domain__name"]
    autocomplete_fields = ["mailbox"]
