"""The audit log, and Django's users and groups, in the admin."""

from django.contrib import admin
from django.contrib.auth import admin as auth_admin
from django.contrib.auth.models import Group, User
from django.http import HttpRequest

from accounts.models import AuditEvent
from domains.secrets import SecretFieldsAdminMixin

# Django's own admins for them, with the password hash kept out of every
# lookup, ordering and search (domains.secrets); UserAdmin alone only refuses
# lookups that start with "password".
admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class UserAdmin(SecretFieldsAdminMixin, auth_admin.UserAdmin):
    pass


@admin.register(Group)
class GroupAdmin(SecretFieldsAdminMixin, auth_admin.GroupAdmin):
    pass


@admin.register(AuditEvent)
class AuditEventAdmin(SecretFieldsAdminMixin, admin.ModelAdmin):
    """Read-only, for operators to look things up."""

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
