"""Secret fields (password hashes, encrypted passwords) stay out of the admin's
lists: no lookup, ordering, search or filter on them, for every admin.

The admins are found by walking ``admin.site._registry``, so a model or an
admin added later is covered without editing this file. Each check is made
as a staff user who may only view that model, the attacker of issue 22: a
binary search with ``?password__gte=`` rebuilt a whole hash in 928 requests.
"""

import re

import pytest
from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.sites import AdminSite
from django.contrib.auth.models import Permission, User
from django.core.exceptions import SuspiciousOperation
from django.test import Client, RequestFactory

from dkim.services import dkim_key_generate
from domains.models import Domain, Mailbox
from domains.secrets import (
    SecretFieldsAdminMixin,
    secret_field_admin_errors,
    secret_fields,
)
from relays.models import RelayHost
from tests.dkim.conftest import TEST_KEY as DKIM_TEST_KEY
from tests.domains.utils import PASSWORD, saved

pytestmark = pytest.mark.django_db

SECRET_ADMINS = [
    (model, model_admin)
    for model, model_admin in admin.site._registry.items()
    if secret_fields(model)
]
SECRET_CASES = [
    pytest.param(model, model_admin, field, id=f"{model._meta.label}.{field}")
    for model, model_admin in SECRET_ADMINS
    for field in sorted(secret_fields(model))
]
LOOKUPS = [
    "",
    "__exact",
    "__iexact",
    "__gt",
    "__gte",
    "__lt",
    "__lte",
    "__startswith",
    "__istartswith",
    "__endswith",
    "__iendswith",
    "__contains",
    "__icontains",
    "__regex",
    "__iregex",
    "__in",
    "__range",
    "__isnull",
]


def test_it_knows_the_secret_fields():
    labels = {case.id for case in SECRET_CASES}

    assert {
        "domains.Mailbox.password",
        "relays.RelayHost.password_encrypted",
        "auth.User.password",
        "dkim.DkimKey.private_key_encrypted",
    } <= labels


@pytest.fixture
def rows(db, settings) -> None:
    """Two rows of each model with a secret, so that a filter would show."""
    domain = saved(Domain(name="example.org"))
    for local_part in ("alice", "bob"):
        mailbox = Mailbox(domain=domain, local_part=local_part)
        mailbox.set_password(PASSWORD)
        saved(mailbox)
    for name in ("isp", "backup"):
        RelayHost.objects.create(
            name=name,
            host=f"smtp.{name}.example",
            username="me",
            password_encrypted=f"gAAAAAB-{name}-ciphertext",
        )
    User.objects.create_superuser("root", "root@example.org", "root-pass-12345")
    # An RSA and an Ed25519 key.
    settings.MAILPANEL_SECRET_ENCRYPTION_KEY = DKIM_TEST_KEY
    dkim_key_generate(domain=domain)


def view_only(model) -> User:
    """Staff with the view permission of ``model`` and nothing else."""
    user = User.objects.create_user(
        "viewer", password="viewer-pass-12345", is_staff=True
    )
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label=model._meta.app_label,
            codename=f"view_{model._meta.model_name}",
        )
    )
    return user


def changelist_url(model) -> str:
    return f"/admin/{model._meta.app_label}/{model._meta.model_name}/"


def lookup_value(lookup: str, value: str) -> str:
    """A query value that matches ``value`` (and only it) for ``lookup``."""
    if lookup == "__isnull":
        return "True"
    if lookup in ("__in", "__range"):
        # The admin splits these on commas; an Argon2 hash has some, and
        # then matches nothing, which the other lookups make up for.
        return f"{value},{value}"
    if lookup in ("__regex", "__iregex"):
        return "^" + re.escape(value[:-1])
    if lookup == "__lte":
        return value[:-1]
    return value


def listed(client: Client, url: str, params: dict) -> list | None:
    """The pks the list shows, or None if the admin refused the request."""
    response = client.get(url, params)
    if response.status_code == 400 or (
        response.status_code == 302 and response.url.endswith("?e=1")
    ):
        return None
    assert response.status_code == 200, (url, params, response.status_code)
    return sorted(obj.pk for obj in response.context["cl"].result_list)


@pytest.mark.parametrize(("model", "model_admin", "field"), SECRET_CASES)
@pytest.mark.parametrize("lookup", LOOKUPS)
def test_it_refuses_every_lookup_on_a_secret_field(
    rows, model, model_admin, field, lookup
):
    client = Client()
    client.force_login(view_only(model))
    url = changelist_url(model)
    everything = listed(client, url, {})
    assert everything is not None and len(everything) >= 2
    # The row with the largest value: "gte" on it would show it alone.
    target = max(model.objects.exclude(**{field: ""}), key=lambda o: getattr(o, field))
    value = getattr(target, field)

    shown = listed(client, url, {field + lookup: lookup_value(lookup, value)})

    assert shown is None or shown == everything, f"{field}{lookup} filtered the list"


def path_names(path: str) -> list[str]:
    """The field names along a lookup, search field or ordering entry."""
    return path.lstrip("-?^=@").split("__")


def ordering_paths(ordering: list) -> list[str]:
    """Plain names of an ordering, also those inside F() and OrderBy()."""
    paths = []
    for item in ordering:
        if isinstance(item, str):
            paths.append(item)
        else:
            paths += re.findall(r"F\((\w+)\)", str(item))
    return paths


def changelist(model_admin, user: User, **params):
    """The admin's ChangeList for a GET with ``params``, as its view builds it."""
    request = RequestFactory().get("/", params)
    request.user = user
    return model_admin.get_changelist_instance(request)


def with_secret_columns(model, model_admin, field) -> admin.ModelAdmin:
    """The admin as a careless change could make it: the secret listed,
    sortable (also through a callable), searchable and filterable."""

    @admin.display(ordering=field)
    def secret_sorted(obj) -> str:
        return "–"

    careless = type(
        f"Careless{type(model_admin).__name__}",
        (type(model_admin),),
        {
            "list_display": [*model_admin.list_display, field, secret_sorted],
            "list_filter": [*model_admin.list_filter, field],
            "search_fields": [
                *model_admin.search_fields,
                field,
                f"^{field}",
                f"={field}",
                f"{field}__icontains",
            ],
            "sortable_by": None,
        },
    )
    return careless(model, AdminSite())


@pytest.mark.parametrize(("model", "model_admin", "field"), SECRET_CASES)
def test_it_never_sorts_by_a_secret_field(rows, model, model_admin, field):
    careless = with_secret_columns(model, model_admin, field)
    user = view_only(model)
    columns = changelist(careless, user).list_display

    for index in range(len(columns)):
        for order in (str(index), f"-{index}"):
            cl = changelist(careless, user, o=order)

            ordering = ordering_paths(cl.queryset.query.order_by)
            assert not any(field in path_names(p) for p in ordering), (order, ordering)
    assert field not in columns
    sortable = changelist(careless, user).sortable_by
    assert not any(
        name == field or getattr(name, "admin_order_field", None) == field
        for name in sortable
    )


@pytest.mark.parametrize(("model", "model_admin", "field"), SECRET_CASES)
def test_it_never_searches_a_secret_field(rows, model, model_admin, field):
    user = view_only(model)
    target = max(model.objects.exclude(**{field: ""}), key=lambda o: getattr(o, field))
    value = getattr(target, field)
    wrong = value[:-1] + ("x" if value[-1] != "x" else "y")

    for searched in (model_admin, with_secret_columns(model, model_admin, field)):
        right_guess = changelist(searched, user, q=value).queryset
        wrong_guess = changelist(searched, user, q=wrong).queryset

        assert sorted(o.pk for o in right_guess) == sorted(o.pk for o in wrong_guess)
        fields = searched.get_search_fields(RequestFactory().get("/"))
        assert not any(field in path_names(name) for name in fields)


@pytest.mark.parametrize(("model", "model_admin", "field"), SECRET_CASES)
def test_it_offers_no_list_filter_on_a_secret_field(rows, model, model_admin, field):
    careless = with_secret_columns(model, model_admin, field)

    cl = changelist(careless, view_only(model))

    assert not any(
        getattr(spec, "field_path", None) == field for spec in cl.filter_specs
    )


@pytest.mark.parametrize(("model", "model_admin", "field"), SECRET_CASES)
def test_it_refuses_a_secret_field_as_to_field(rows, model, model_admin, field):
    client = Client()
    client.force_login(view_only(model))

    response = client.get(changelist_url(model), {"_to_field": field})

    assert response.status_code == 400


def secret_paths(model) -> list[str]:
    """Lookups that reach another model's secret field in one step."""
    paths = []
    for relation in model._meta.get_fields():
        related = relation.related_model
        if not relation.is_relation or related is None:
            continue
        names = [relation.name]
        if relation is model._meta.pk:
            # "pk" is an alias Django's lookup_allowed() does not resolve.
            names.append("pk")
        paths += [
            f"{name}__{field}"
            for name in names
            for field in sorted(secret_fields(related))
        ]
    return paths


RELATED_CASES = [
    pytest.param(model_admin, path, id=f"{model._meta.label}:{path}")
    for model, model_admin in admin.site._registry.items()
    for path in secret_paths(model)
]


def test_it_walks_relations_to_secret_fields():
    ids = {case.id for case in RELATED_CASES}

    assert "mailserver.MailboxUsage:pk__password" in ids
    assert "domains.Forward:mailbox__password" in ids
    assert "relays.SenderRelay:relay__password_encrypted" in ids


@pytest.mark.parametrize(("model_admin", "path"), RELATED_CASES)
@pytest.mark.parametrize("lookup", ["", "__startswith", "__gte", "__regex"])
def test_it_refuses_lookups_through_a_relation(model_admin, path, lookup):
    user = view_only(model_admin.model)

    with pytest.raises((SuspiciousOperation, IncorrectLookupParameters)):
        changelist(model_admin, user, **{path + lookup: "{ARGON2ID}$argon2id$"})


def test_every_admin_that_can_reach_a_secret_uses_the_mixin():
    assert secret_field_admin_errors(admin.site) == []


def test_it_reports_an_admin_without_the_mixin():
    site = AdminSite()
    site.register(Mailbox, admin.ModelAdmin)
    site.register(
        Domain, type("Guarded", (SecretFieldsAdminMixin, admin.ModelAdmin), {})
    )

    errors = secret_field_admin_errors(site)

    assert [error.id for error in errors] == ["domains.E001"]
    assert "Mailbox" in errors[0].msg
