"""Fixtures for the DKIM tests: an encryption key and a hosted domain."""

from __future__ import annotations

import pytest

from domains.models import Domain

# A fixed test key: never a real one.
TEST_KEY = "k3Vq8rTz0bYw5nLc2HfJ7dXs9mAe4pGu1iQo6yNhWvE="


@pytest.fixture(autouse=True)
def encryption_key(settings):
    settings.MAILPANEL_SECRET_ENCRYPTION_KEY = TEST_KEY
    return TEST_KEY


@pytest.fixture
def domain(db) -> Domain:
    return Domain.objects.create(name="example.org")


@pytest.fixture
def other_domain(db) -> Domain:
    return Domain.objects.create(name="example.net")
