"""Secret fields: declared once on their model, unreachable through the admin.

A password hash, even an encrypted password, must not be readable by someone
who may only view a list. ``?password__gte=<prefix>`` answered "row" or "no
row" rebuilds a hash one character at a time (issue 22: 928 requests), and
sorting or searching by it leaks the same, only slower. Django's
``UserAdmin`` refuses lookups on ``password`` and nothing else does.

A model names its secrets in ``secret_fields`` (a tuple of field names);
Django's users have ``password``. ``SecretFieldsAdminMixin`` keeps them out of
an admin's lookups along any path (``mailbox__password``, and ``pk__password``
where the primary key is a relation, an alias Django's own check does not
follow), out of ordering, search, list filters and list columns.
``secret_field_admin_errors`` is a system check: every registered admin
whose lookups can reach a secret field in one step must use the mixin.
"""

from typing import Any

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.checks import Error, Tags, register
from django.core.exceptions import FieldDoesNotExist
from django.db.models import F, Model
from django.db.models.constants import LOOKUP_SEP
from django.http import HttpRequest

# Search fields may start with these to choose the lookup.
_SEARCH_PREFIXES = "^=@"


def secret_fields(model: type[Model]) -> frozenset[str]:
    """The names of ``model``'s fields that hold a secret or its hash."""
    names = set(getattr(model, "secret_fields", ()))
    if issubclass(model, AbstractBaseUser):
        names.add("password")
    return frozenset(names)


def lookup_touches_secret(model: type[Model], lookup: str) -> bool:
    """Whether ``lookup`` (``a__b__startswith``, ``-a__b``) reads a secret field.

    The path is followed through relations as the ORM follows it; the first
    part that is not a field is a lookup or a transform, where it ends.
    """
    opts = model._meta
    for part in lookup.lstrip("-?").split(LOOKUP_SEP):
        try:
            field = opts.pk if part == "pk" else opts.get_field(part)
        except FieldDoesNotExist:
            return False
        if field.name in secret_fields(opts.model):
            return True
        if not field.is_relation or field.related_model is None:
            return False
        opts = field.related_model._meta
    return False


def _ordering_names(item: Any) -> list[str]:
    """The field paths an ordering entry sorts by: a name, F() or OrderBy()."""
    if isinstance(item, str):
        return [item]
    if isinstance(item, F):
        return [item.name]
    if hasattr(item, "get_source_expressions"):
        return [n for e in item.get_source_expressions() for n in _ordering_names(e)]
    return []


class SecretSafeChangeList(ChangeList):
    """A change list that never sorts by a secret field, whoever asks.

    ``?o=`` picks list columns, which may be callables ordering by any path;
    the admin's and the model's default orderings are filtered too.
    """

    def __init__(self, request: HttpRequest, *args, **kwargs) -> None:
        super().__init__(request, *args, **kwargs)
        # Nor is such a column offered as sortable in the header.
        self.sortable_by = [
            name for name in self.sortable_by if not self._column_sorts_by_secret(name)
        ]

    def _column_sorts_by_secret(self, name: Any) -> bool:
        try:
            return self._sorts_by_secret(ChangeList.get_ordering_field(self, name))
        except AttributeError:
            return False

    def _sorts_by_secret(self, item: Any) -> bool:
        return any(
            lookup_touches_secret(self.model, name) for name in _ordering_names(item)
        )

    def get_ordering_field(self, field_name: Any) -> Any:
        order_field = super().get_ordering_field(field_name)
        return None if self._sorts_by_secret(order_field) else order_field

    def get_ordering(self, request: HttpRequest, queryset) -> list:
        ordering = super().get_ordering(request, queryset)
        return [item for item in ordering if not self._sorts_by_secret(item)]


class SecretFieldsAdminMixin:
    """Keeps the secret fields of every model out of this admin's lists.

    Put it first among the bases. A refused lookup is a 400 (Django's
    ``DisallowedModelAdminLookup``), as in ``UserAdmin``; a secret column,
    search field or list filter is left out silently.
    """

    def lookup_allowed(self, lookup: str, value: str, request=None) -> bool:
        if lookup_touches_secret(self.model, lookup):
            return False
        return super().lookup_allowed(lookup, value, request)

    def to_field_allowed(self, request: HttpRequest, to_field: str) -> bool:
        if lookup_touches_secret(self.model, to_field):
            return False
        return super().to_field_allowed(request, to_field)

    def get_changelist(self, request: HttpRequest, **kwargs) -> type[ChangeList]:
        return SecretSafeChangeList

    def get_search_fields(self, request: HttpRequest) -> list[str]:
        return [
            name
            for name in super().get_search_fields(request)
            if not lookup_touches_secret(self.model, name.lstrip(_SEARCH_PREFIXES))
        ]

    def get_list_display(self, request: HttpRequest) -> list:
        return [
            name
            for name in super().get_list_display(request)
            if not (isinstance(name, str) and lookup_touches_secret(self.model, name))
        ]

    def get_list_filter(self, request: HttpRequest) -> list:
        def secret(item: Any) -> bool:
            # A SimpleListFilter class builds its own queryset: it is code,
            # reviewed like any other, not a field path from the request.
            path = item[0] if isinstance(item, (list, tuple)) else item
            return isinstance(path, str) and lookup_touches_secret(self.model, path)

        return [item for item in super().get_list_filter(request) if not secret(item)]


def _reaches_secret(model: type[Model]) -> bool:
    """A secret field of its own, or of a model one relation away."""
    if secret_fields(model):
        return True
    return any(
        field.is_relation
        and field.related_model is not None
        and bool(secret_fields(field.related_model))
        for field in model._meta.get_fields()
    )


def secret_field_admin_errors(site: admin.AdminSite) -> list[Error]:
    """An error for each admin of ``site`` that can reach a secret unguarded."""
    return [
        Error(
            f"{type(model_admin).__qualname__} (for {model._meta.label}) can reach "
            "a secret field through its lookups but does not use "
            "SecretFieldsAdminMixin.",
            hint="Add domains.secrets.SecretFieldsAdminMixin first in its bases.",
            obj=type(model_admin),
            id="domains.E001",
        )
        for model, model_admin in site._registry.items()
        if _reaches_secret(model)
        and not isinstance(model_admin, SecretFieldsAdminMixin)
    ]


@register(Tags.admin, Tags.security)
def check_secret_field_admins(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    return secret_field_admin_errors(admin.site)
