"""What the admin's lists filter by, count and show, at a cost that does not
grow with the number of domains.

Django's filter on a foreign key (``list_filter = ["domain"]``, and
``RelatedOnlyFieldListFilter`` as soon as every domain has a row) renders one
link per domain: on an installation with 1,000 domains every page of the
mailbox and alias lists loaded and rendered 1,000 links. ``DomainFilter`` is
a text box instead: a domain's name, matched exactly, which one unique index
answers. Partial names belong to the search (``@exam`` in the mailbox list:
docs/admin.md).
"""

from django.contrib import admin
from django.contrib.admin.views.main import ERROR_FLAG, PAGE_VAR
from django.core.exceptions import ValidationError
from django.db.models import Aggregate, Model, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from domains.addresses import display_domain, normalize_domain
from domains.sizes import format_bytes


class DomainFilter(admin.ListFilter):
    """``?domain=NAME``: the rows of the hosted domain NAME, in any form
    (``Bücher.example``, ``xn--bcher-kva.example``)."""

    title = "domain"
    parameter_name = "domain"
    template = "admin/domains/domain_filter.html"

    def __init__(self, request: HttpRequest, params, model, model_admin) -> None:
        super().__init__(request, params, model, model_admin)
        if self.parameter_name in params:
            self.used_parameters[self.parameter_name] = params.pop(self.parameter_name)[
                -1
            ]
        # The text box submits a form of its own: it carries the list's other
        # parameters (search, other filters, ordering), but not the page.
        self.hidden_params = [
            (name, value)
            for name, values in request.GET.lists()
            if name not in (self.parameter_name, PAGE_VAR, ERROR_FLAG)
            for value in values
        ]

    def has_output(self) -> bool:
        return True

    def expected_parameters(self) -> list[str]:
        return [self.parameter_name]

    def value(self) -> str:
        return self.used_parameters.get(self.parameter_name, "").strip()

    def domain_name(self) -> str | None:
        """The stored (IDNA) form of the value, or None if it is no name."""
        try:
            return normalize_domain(self.value())
        except ValidationError:
            return None

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if not self.value():
            return queryset
        name = self.domain_name()
        if name is None:
            # No domain has that name: an empty list says so, where an
            # IncorrectLookupParameters would drop every parameter (?e=1).
            return queryset.none()
        return queryset.filter(domain__name=name)

    def choices(self, changelist):
        yield {
            "selected": not self.value(),
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": "All",
        }
        if self.value():
            name = self.domain_name()
            yield {
                "selected": True,
                "query_string": changelist.get_query_string(),
                "display": display_domain(name) if name else self.value(),
            }


def domain_link(changelist: str, domain, text: object) -> str:
    """A link to the list ``changelist`` (a URL name) filtered on ``domain``."""
    query = urlencode({DomainFilter.parameter_name: domain.name})
    return format_html('<a href="{}?{}">{}</a>', reverse(changelist), query, text)


def per_domain(model: type[Model], aggregate: Aggregate) -> Coalesce:
    """``aggregate`` over the ``model`` rows of each domain, as a correlated
    subquery: evaluated for the rows of the page only, and left out of the
    paginator's COUNT."""
    rows = model.objects.filter(domain=OuterRef("pk")).order_by().values("domain")
    return Coalesce(Subquery(rows.annotate(value=aggregate).values("value")), 0)


def format_quota(value: int | None) -> str:
    """A quota in bytes for the lists: 0 is "unlimited", None is unknown."""
    if value is None:
        return "–"
    return "unlimited" if value == 0 else format_bytes(value)
