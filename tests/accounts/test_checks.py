"""The portal's start-up checks."""

import pytest

from accounts.checks import check_base_url


def test_it_accepts_the_configured_base_url(settings):
    assert settings.MAILPANEL_BASE_URL
    assert check_base_url() == []


@pytest.mark.parametrize(
    "url", ["https://mail.example.org", "http://127.0.0.1:8000/", "http://[::1]:80"]
)
def test_it_accepts_a_scheme_and_host(settings, url):
    settings.MAILPANEL_BASE_URL = url

    assert check_base_url() == []


def test_it_warns_when_unset(settings):
    settings.MAILPANEL_BASE_URL = ""

    assert [problem.id for problem in check_base_url()] == ["accounts.W001"]


@pytest.mark.parametrize(
    "url",
    [
        "mail.example.org",
        "ftp://mail.example.org",
        "https://",
        "https://mail.example.org/panel",
        "https://mail.example.org/?x=1",
        "https://user@mail.example.org",
    ],
)
def test_it_refuses_anything_but_a_scheme_and_host(settings, url):
    settings.MAILPANEL_BASE_URL = url

    assert [problem.id for problem in check_base_url()] == ["accounts.E001"]
