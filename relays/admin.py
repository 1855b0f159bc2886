"""Relay hosts in the admin: declarative, writes through relays.services.

The password field is write-only (relays.forms) and the change view keeps
it out of error reports (sensitive_post_parameters). Saving or deleting a
relay queues the credentials rewrite; routes need nothing, Postfix reads them
from SQL.
"""

from django.contrib import admin, messages
from django.http import HttpRequest
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters

from domains.secrets import SecretFieldsAdminMixin
from relays import services
from relays.forms import RelayHostForm
from relays.models import DomainRelay, RelayHost, SenderRelay


@admin.register(RelayHost)
class RelayHostAdmin(SecretFieldsAdminMixin, admin.ModelAdmin):
    form = RelayHostForm
    list_display = [
        "name",
        "nexthop",
        "security",
        "username",
        "is_default",
        "last_test_ok",
        "last_test_at",
        "last_test_result",
        "test_progress",
    ]
    list_filter = ["is_default", "security"]
    search_fields = ["name", "host", "username"]
    actions = ["test_relays"]
    fieldsets = [
        (None, {"fields": ["name", "host", "port", "security", "is_default"]}),
        ("DNS", {"fields": ["spf_include"]}),
        ("Login", {"fields": ["username", "password", "password_status"]}),
        (
            "Last test",
            {"fields": ["last_test_ok", "last_test_at", "last_test_result"]},
        ),
    ]
    readonly_fields = [
        "password_status",
        "last_test_ok",
        "last_test_at",
        "last_test_result",
    ]

    @admin.display(description="password")
    def password_status(self, relay: RelayHost) -> str:
        # Whether and when, never the value.
        if not relay.has_password:
            return "not set"
        changed = relay.password_changed_at
        return f"set{f' on {changed:%Y-%m-%d %H:%M} UTC' if changed else ''}"

    @admin.display(description="new test")
    def test_progress(self, relay: RelayHost) -> str:
        if relay.test_started_at:
            return f"running since {relay.test_started_at:%Y-%m-%d %H:%M:%S} UTC"
        return "queued" if relay.test_queued_at else "–"

    @method_decorator(sensitive_post_parameters("password"))
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        return super().changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        services.relay_credentials_enqueue()

    def delete_model(self, request, obj) -> None:
        super().delete_model(request, obj)
        services.relay_credentials_enqueue()

    def delete_queryset(self, request, queryset) -> None:
        super().delete_queryset(request, queryset)
        services.relay_credentials_enqueue()

    @admin.action(description="Test the selected relays (TLS and login, no mail)")
    def test_relays(self, request: HttpRequest, queryset) -> None:
        for relay in queryset:
            services.relay_test_enqueue(relay=relay)
        self.message_user(
            request,
            f"{len(queryset)} relay test(s) queued; reload this page for the result.",
            messages.SUCCESS,
        )


@admin.register(DomainRelay)
class DomainRelayAdmin(SecretFieldsAdminMixin, admin.ModelAdmin):
    list_display = ["domain", "relay", "created"]
    list_select_related = ["domain", "relay"]
    search_fields = ["domain__name"]


@admin.register(SenderRelay)
class SenderRelayAdmin(SecretFieldsAdminMixin, admin.ModelAdmin):
    list_display = ["address", "relay", "created"]
    list_select_related = ["relay"]
    search_fields = ["address"]
