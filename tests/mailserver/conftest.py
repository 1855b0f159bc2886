import pytest
from django.test import override_settings


@pytest.fixture
def mail(mailserver, transactional_db):
    """The running mail server, for a test whose rows are really committed.

    Postfix and Dovecot read the database from outside the test's connection,
    so the usual rolled-back test transaction would be invisible to them.
    """
    with override_settings(**mailserver.settings):
        yield mailserver
