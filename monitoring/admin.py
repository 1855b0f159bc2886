"""Zones are edited here; results and states are read-only history.

The admin index gets a health panel: ``admin.site.index_template`` points at a
template that extends the stock index (an app template named admin/index.html
would lose to django.contrib.admin's, which comes first in INSTALLED_APPS).
"""

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.utils.html import format_html, format_html_join

from monitoring.findings import Severity
from monitoring.models import (
    CheckResult,
    CheckRun,
    CheckState,
    DnsblZone,
    DomainDnsRecords,
)
from monitoring.records import domain_dns_records
from monitoring.zone import zone_snippet

admin.site.index_template = "monitoring/admin/index.html"


def severity_badge(severity: str) -> str:
    value = Severity(severity)
    return format_html(
        '<span class="mon-badge mon-{}">{}</span>', value.colour, value.label
    )


@admin.register(DnsblZone)
class DnsblZoneAdmin(admin.ModelAdmin):
    list_display = ["zone", "kind", "weight", "bitmask", "ipv6", "active"]
    list_editable = ["weight", "active"]
    list_filter = ["kind", "active"]
    search_fields = ["zone", "description"]
    fieldsets = [
        (None, {"fields": ["zone", "kind", "description", "weight", "active"]}),
        ("Answers", {"fields": ["return_codes", "bitmask", "error_codes", "ipv6"]}),
        (
            "Self-test and links",
            {"fields": ["test_listed", "test_unlisted", "lookup_url"]},
        ),
    ]


class ReadOnlyAdmin(admin.ModelAdmin):
    """History is written by the checks only."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(CheckState)
class CheckStateAdmin(ReadOnlyAdmin):
    list_display = ["check_name", "subject", "badge", "summary", "since", "checked"]
    list_filter = ["check_name", "severity"]
    search_fields = ["subject", "summary"]
    fields = [
        "check_name",
        "subject",
        "badge",
        "summary",
        "advice",
        "since",
        "checked",
        "details",
        "history",
    ]
    readonly_fields = fields

    @admin.display(description="state", ordering="severity")
    def badge(self, obj: CheckState) -> str:
        return severity_badge(obj.severity)

    @admin.display(description="history (latest 100 runs)")
    def history(self, obj: CheckState) -> str:
        rows = obj.history().values_list("created", "severity", "summary")[:100]
        return format_html(
            "<table><tr><th>checked</th><th>state</th><th>result</th></tr>{}</table>",
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                (
                    (f"{created:%Y-%m-%d %H:%M}", Severity(sev).label, summary)
                    for created, sev, summary in rows
                ),
            ),
        )


class CheckResultInline(admin.TabularInline):
    model = CheckResult
    fields = ["check_name", "subject", "severity", "summary", "advice"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(CheckRun)
class CheckRunAdmin(ReadOnlyAdmin):
    list_display = ["started", "kind", "badge", "resolver", "result_count"]
    list_filter = ["kind", "severity"]
    fields = ["kind", "started", "finished", "resolver", "severity"]
    readonly_fields = fields
    inlines = [CheckResultInline]

    def get_queryset(self, request: HttpRequest):
        # One query for the list, counts included.
        return super().get_queryset(request).annotate(result_count=Count("results"))

    @admin.display(description="state", ordering="severity")
    def badge(self, obj: CheckRun) -> str:
        return severity_badge(obj.severity)

    @admin.display(description="results", ordering="result_count")
    def result_count(self, obj: CheckRun) -> int:
        return obj.result_count


@admin.register(DomainDnsRecords)
class DomainDnsRecordsAdmin(admin.ModelAdmin):
    """The records page of each domain: what to publish, what DNS says now.

    The change view is the page itself; it asks DNS (the monitoring resolver)
    on every visit, so it shows the state of the moment.
    """

    list_display = ["display_name", "active"]
    list_filter = ["active"]
    search_fields = ["name"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="domain", ordering="name")
    def display_name(self, obj: DomainDnsRecords) -> str:
        return obj.display_name

    def change_view(
        self, request: HttpRequest, object_id, form_url="", extra_context=None
    ) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        domain = get_object_or_404(DomainDnsRecords, pk=unquote(object_id))
        records = domain_dns_records(domain)
        context = {
            **self.admin_site.each_context(request),
            "title": f"DNS records of {domain.display_name}",
            "subtitle": None,
            "opts": self.model._meta,
            "domain": domain,
            "records": records,
            "zone": zone_snippet(domain.name, records),
            "has_keys": any(
                r.name.endswith(f"._domainkey.{domain.name}") for r in records
            ),
        }
        return TemplateResponse(request, "monitoring/admin/dns_records.html", context)
