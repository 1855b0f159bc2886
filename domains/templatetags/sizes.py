"""``{% load sizes %}``: the panel's one byte formatter in templates."""

from django import template

from domains.sizes import format_bytes

register = template.Library()


@register.filter
def bytesize(value: int | None) -> str:
    """``{{ bytes|bytesize }}``: "1.5 GiB"; empty for None."""
    return "" if value is None else format_bytes(value)
