import re
from io import StringIO

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def run(**options: str) -> str:
    out = StringIO()
    call_command("create_demo_admin", stdout=out, **options)
    return out.getvalue()


def printed(label: str, output: str) -> str:
    match = re.search(rf"^\s*{label}:\s*(\S+)\s*$", output, re.MULTILINE)
    assert match, f"no {label!r} line in:\n{output}"
    return match[1]


def test_it_creates_a_superuser_whose_password_authenticates():
    password = printed("Password", run())

    user = authenticate(username="admin", password=password)

    assert user is not None
    assert user.is_superuser
    assert user.is_staff
    assert user.is_active


def test_it_prints_the_url_username_and_password():
    output = run(url="http://mail.example.test:8080/admin/")

    assert printed("URL", output) == "http://mail.example.test:8080/admin/"
    assert printed("Username", output) == "admin"
    assert len(printed("Password", output)) >= 16


def test_it_keeps_the_password_on_a_second_run():
    password = printed("Password", run())
    stored_hash = get_user_model().objects.get(username="admin").password

    output = run()

    assert "Password:" not in output
    assert "manage.py changepassword admin" in output
    assert get_user_model().objects.get(username="admin").password == stored_hash
    assert authenticate(username="admin", password=password) is not None


def test_it_leaves_an_existing_user_alone():
    get_user_model().objects.create_user("admin", password="chosen-by-hand")

    output = run()

    assert "exists" in output
    user = authenticate(username="admin", password="chosen-by-hand")
    assert user is not None
    assert not user.is_superuser
    assert get_user_model().objects.count() == 1


def test_it_gives_each_new_admin_a_different_password():
    first = printed("Password", run(username="first"))
    second = printed("Password", run(username="second"))

    assert first != second
    assert authenticate(username="second", password=second) is not None
