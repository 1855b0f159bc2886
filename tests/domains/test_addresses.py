import pytest
from django.core.exceptions import ValidationError

from domains.addresses import (
    display_domain,
    normalize_address,
    normalize_domain,
    parse_address_list,
)


def test_it_stores_idn_domains_as_lowercase_punycode():
    assert normalize_domain("Bücher.Example") == "xn--bcher-kva.example"
    assert display_domain("xn--bcher-kva.example") == "bücher.example"


def test_it_strips_a_trailing_dot():
    assert normalize_domain("example.org.") == "example.org"


@pytest.mark.parametrize(
    "name",
    [
        "",
        "localhost",
        "-bad.example",
        "bad-.example",
        "a..example",
        "ex ample.org",
        "x" * 64 + ".example",
        "example.123",
        "under_score.example",
    ],
)
def test_it_rejects_invalid_domains(name):
    with pytest.raises(ValidationError):
        normalize_domain(name)


def test_it_lowercases_addresses():
    assert normalize_address("Alice.Smith@Example.ORG") == "alice.smith@example.org"


@pytest.mark.parametrize(
    "address",
    [
        "plain",
        "@example.org",
        "a..b@example.org",
        ".a@example.org",
        "a.@example.org",
        '"quoted"@example.org',
        "user@external@example.org",
        "user%ext@example.org@",
        "ünïcode@example.org",
        "x" * 65 + "@example.org",
        "a b@example.org",
    ],
)
def test_it_rejects_invalid_addresses(address):
    with pytest.raises(ValidationError):
        normalize_address(address)


def test_it_allows_rfc5321_atext():
    assert normalize_address("a+tag!#$&'*/=?^_`{|}~-@example.org")


def test_it_parses_address_lists_and_drops_duplicates():
    text = "a@example.org, B@example.org\nb@example.org; c@Bücher.example"
    assert parse_address_list(text) == [
        "a@example.org",
        "b@example.org",
        "c@xn--bcher-kva.example",
    ]


def test_it_reports_every_bad_address_in_a_list():
    with pytest.raises(ValidationError) as excinfo:
        parse_address_list("ok@example.org bad@ worse")
    assert len(excinfo.value.messages) == 2


def test_it_rejects_an_empty_list():
    with pytest.raises(ValidationError, match="at least one"):
        parse_address_list(" \n ")
