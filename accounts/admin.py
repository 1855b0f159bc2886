"""The audit log in the admin: read-only, for operators to look things up."""

from django.contrib import admin
from django.http import HttpRequest

from accounts.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["created", "address", "action", "actor", "ip_address"]
    list_filter = ["action", "created"]
    search_fields = ["address", "actor", "ip_address"]
    date_hierarchy = "created"
    readonly_fields = [
        "created",
        "mailbox",
        "address",
        "actor",
        "action",
        "ip_address",
        "detail",
    ]
    # The mailbox's address is kept on the row; joining the mailbox for each
    # line of a long list would add nothing.
    list_select_related = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
