from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from backups import services
from backups.models import BackupPolicy, BackupRun, RestoreDrill, State
from domains.sizes import format_bytes


@admin.register(BackupPolicy)
class BackupPolicyAdmin(admin.ModelAdmin):
    list_display = ["__str__", "enabled", "check_every_days", "drill_every_days"]
    fieldsets = [
        (None, {"fields": ["enabled", "daily_at"]}),
        ("Retention", {"fields": ["keep_daily", "keep_weekly", "keep_monthly"]}),
        (
            "Verification",
            {"fields": ["check_every_days", "check_read_percent", "drill_every_days"]},
        ),
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # One row: BackupPolicy.load() creates it with the defaults.
        return not BackupPolicy.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


def _size(value: int | None) -> str:
    return "–" if value is None else format_bytes(value)


@admin.register(BackupRun)
class BackupRunAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "kind",
        "state",
        "started",
        "duration_display",
        "progress_display",
        "size_added",
        "total_size",
        "error_display",
    ]
    list_filter = ["kind", "state"]
    date_hierarchy = "created"
    actions = ["back_up_now"]
    readonly_fields = [f.name for f in BackupRun._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="duration")
    def duration_display(self, run: BackupRun) -> str:
        duration = run.duration
        return "–" if duration is None else str(duration).split(".")[0]

    @admin.display(description="progress")
    def progress_display(self, run: BackupRun) -> str:
        if run.state == State.QUEUED:
            # A query per queued row: there are only ever a few.
            if services.backup_waits_for_broker(run):
                return "waiting for the broker (sent once it is back)"
            return "waiting for a worker"
        if run.state != State.RUNNING:
            return "–"
        return (
            f"{run.progress_percent:.0%}: {run.files_done}/{run.total_files} files, "
            f"{format_bytes(run.bytes_done)} of {format_bytes(run.total_bytes)}"
        )

    @admin.display(description="size added")
    def size_added(self, run: BackupRun) -> str:
        return _size(run.bytes_added)

    @admin.display(description="total size")
    def total_size(self, run: BackupRun) -> str:
        return _size(run.repository_size)

    @admin.display(description="error")
    def error_display(self, run: BackupRun) -> str:
        return run.error[:120]

    @admin.action(description="Back up now", permissions=["backup"])
    def back_up_now(self, request: HttpRequest, queryset) -> None:
        # The selection does not matter: a backup always takes everything.
        run = services.backup_enqueue()
        self.message_user(request, f"Backup #{run.pk} queued.", messages.SUCCESS)

    def has_backup_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("backups.view_backuprun") and (
            request.user.is_superuser
        )

    # The action needs a selected row; the button above the list does not.
    def get_urls(self):
        urls = [
            path(
                "back-up-now/",
                self.admin_site.admin_view(require_POST(self.back_up_now_view)),
                name="backups_backuprun_back_up_now",
            )
        ]
        return urls + super().get_urls()

    def back_up_now_view(self, request: HttpRequest) -> HttpResponseRedirect:
        if self.has_backup_permission(request):
            self.back_up_now(request, BackupRun.objects.none())
        else:
            self.message_user(request, "Only superusers start backups.", messages.ERROR)
        return HttpResponseRedirect(reverse("admin:backups_backuprun_changelist"))


@admin.register(RestoreDrill)
class RestoreDrillAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "state",
        "started",
        "snapshot_id",
        "database_ok",
        "mailboxes_checked",
        "messages_checked",
        "error",
    ]
    list_filter = ["state"]
    readonly_fields = [f.name for f in RestoreDrill._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
