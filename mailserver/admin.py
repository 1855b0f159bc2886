"""The mail hosts, their configuration and background work, in the admin.

Nothing here touches a file or a daemon: saves and actions write rows and
queue tasks (mailserver.outbox); the hosts' workers do the work and report
back on the same rows.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count, Subquery, Sum
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html_join

from domains.secrets import SecretFieldsAdminMixin
from domains.sizes import format_bytes
from mailserver import hosts, outbox
from mailserver.models import (
    DomainUsage,
    MailboxUsage,
    MaildirJob,
    MailHost,
    MailServerSettings,
    OutboxMessage,
)


@admin.register(MailServerSettings)
class MailServerSettingsAdmin(admin.ModelAdmin):
    fields = [
        "hostname",
        "message_size_limit",
        "tls_cert",
        "tls_key",
        "version",
        "host_states",
        "updated",
    ]
    readonly_fields = ["version", "host_states", "updated"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context=None):
        # One row: the list is its change form.
        obj = MailServerSettings.load()
        return HttpResponseRedirect(
            reverse("admin:mailserver_mailserversettings_change", args=[obj.pk])
        )

    @admin.display(description="mail hosts")
    def host_states(self, obj: MailServerSettings) -> str:
        rows = [
            (host.name, host.state(obj.version).label, host.applied_version or "–")
            for host in MailHost.objects.all()
        ]
        if not rows:
            return "No mail host has registered yet."
        return format_html_join("", "<div>{}: {} (runs version {})</div>", rows)

    def save_model(self, request: HttpRequest, obj, form, change: bool) -> None:
        count = hosts.mailserver_settings_save(obj=obj)
        # The request only wrote rows; say so, whether or not the broker is up.
        self.message_user(
            request,
            f"Saved as version {obj.version}. The change is pending: "
            f"{count} mail host(s) will validate and apply it; see Mail hosts "
            "for the outcome.",
            messages.WARNING if count else messages.INFO,
        )

    def response_change(self, request: HttpRequest, obj):
        # save_model's message is the one that matters.
        return HttpResponseRedirect(request.path)


@admin.register(MailHost)
class MailHostAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "alive",
        "state",
        "applied_version",
        "applied_at",
        "error",
        "last_seen",
    ]
    readonly_fields = [
        "name",
        "last_seen",
        "applied_version",
        "applied_at",
        "error",
        "error_version",
        "error_at",
        "created",
    ]
    actions = ["reload"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # hosts register themselves

    def get_queryset(self, request: HttpRequest):
        # The current version comes with each row, in the same query: this
        # admin is one object shared by every request, so it keeps nothing.
        current = MailServerSettings.objects.filter(pk=1).values("version")
        return super().get_queryset(request).annotate(_version=Subquery(current))

    @admin.display(boolean=True)
    def alive(self, obj: MailHost) -> bool:
        return obj.is_alive()

    @admin.display(description="configuration")
    def state(self, obj: MailHost) -> str:
        version = getattr(obj, "_version", None) or MailServerSettings.load().version
        return f"{obj.state(version).label} (current version {version})"

    @admin.action(description="Apply the configuration again")
    def reload(self, request: HttpRequest, queryset) -> None:
        for host in queryset:
            hosts.mailhost_reload_enqueue(host=host)
        self.message_user(request, f"Queued for {len(queryset)} host(s).")


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    list_display = ["task", "args", "queue", "created", "sent_at", "attempts"]
    list_filter = [("sent_at", admin.EmptyFieldListFilter), "queue"]
    readonly_fields = [f.name for f in OutboxMessage._meta.fields]
    actions = ["send_now"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Send to the broker now")
    def send_now(self, request: HttpRequest, queryset) -> None:
        sent = sum(
            outbox.outbox_send(message_id=pk)
            for pk in queryset.filter(sent_at=None).values_list("pk", flat=True)
        )
        self.message_user(request, f"Sent {sent}.")


@admin.register(MaildirJob)
class MaildirJobAdmin(SecretFieldsAdminMixin, admin.ModelAdmin):
    list_display = ["kind", "source", "target", "host", "state", "error", "created"]
    list_filter = ["state", "kind", "host"]
    list_select_related = ["host"]
    search_fields = ["source", "target", "old_address", "new_address"]
    readonly_fields = [f.name for f in MaildirJob._meta.fields]
    actions = ["retry"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Run again")
    def retry(self, request: HttpRequest, queryset) -> None:
        from mailserver.lifecycle import JOB_TASK

        jobs = queryset.exclude(state=MaildirJob.State.DONE).select_related("host")
        for job in jobs:
            queue = job.host.queue if job.host else ""
            outbox.outbox_enqueue(task=JOB_TASK, args=[job.pk], queue=queue)
        self.message_user(request, f"Queued {len(jobs)} job(s).")


@admin.register(MailboxUsage)
class MailboxUsageAdmin(SecretFieldsAdminMixin, admin.ModelAdmin):
    list_display = ["mailbox", "domain", "used", "limit", "percent", "updated"]
    list_select_related = ["mailbox__domain"]
    list_filter = ["mailbox__domain"]
    search_fields = ["mailbox__local_part", "mailbox__domain__name"]
    ordering = ["-bytes_used"]
    readonly_fields = [f.name for f in MailboxUsage._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(ordering="mailbox__domain__name")
    def domain(self, obj: MailboxUsage) -> str:
        return obj.mailbox.domain.name

    @admin.display(description="used", ordering="bytes_used")
    def used(self, obj: MailboxUsage) -> str:
        return format_bytes(obj.bytes_used)

    @admin.display(description="quota", ordering="bytes_limit")
    def limit(self, obj: MailboxUsage) -> str:
        return format_bytes(obj.bytes_limit) if obj.bytes_limit else "unlimited"

    @admin.display(description="%")
    def percent(self, obj: MailboxUsage) -> str:
        return "–" if obj.percent is None else f"{obj.percent}%"


@admin.register(DomainUsage)
class DomainUsageAdmin(SecretFieldsAdminMixin, admin.ModelAdmin):
    list_display = ["name", "mailboxes_measured", "used", "quota_display"]
    search_fields = ["name"]

    def get_queryset(self, request: HttpRequest):
        # One query: the sums are annotated, not computed per row.
        return (
            super()
            .get_queryset(request)
            .annotate(
                _used=Sum("mailboxes__usage__bytes_used"),
                _measured=Count("mailboxes__usage"),
            )
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="mailboxes measured", ordering="_measured")
    def mailboxes_measured(self, obj) -> int:
        return obj._measured

    @admin.display(description="used", ordering="_used")
    def used(self, obj) -> str:
        return format_bytes(obj._used or 0)

    @admin.display(description="total quota", ordering="quota")
    def quota_display(self, obj) -> str:
        return format_bytes(obj.quota) if obj.quota else "unlimited"
