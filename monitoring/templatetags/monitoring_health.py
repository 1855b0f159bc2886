"""The health panel on the admin index."""

from django import template

from monitoring.services import health_summary

register = template.Library()


@register.inclusion_tag("monitoring/admin/health_panel.html", takes_context=True)
def monitoring_health_panel(context: template.Context) -> dict:
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.has_perm("monitoring.view_checkstate"):
        return {"show": False}
    return {"show": True, **health_summary()}
