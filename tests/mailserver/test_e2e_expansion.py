"""End-to-end: the panel's expansion limit and Postfix's are the same number.

virtual_alias_expansion_limit is rendered from MAILPANEL_ALIAS_EXPANSION_LIMIT
(50 here, the default). What the models accept at the limit, Postfix delivers;
one address more, which the models refuse, Postfix defers as a whole. That
pins down that both count the copy a mailbox keeps.
"""

import smtplib

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError

from domains import lookups
from domains.models import Forward
from tests.conftest import SINK_DOMAIN
from tests.mailserver import data
from tests.mailserver.support import imap_wait_for, send, unique_subject

pytestmark = [pytest.mark.mailserver, pytest.mark.postgres]

SENDER = f"someone@{SINK_DOMAIN}"


def targets(count: int) -> list[str]:
    return [f"fan{n}@{SINK_DOMAIN}" for n in range(count)]


def test_postfix_delivers_what_the_panel_accepts_and_not_one_more(mail):
    limit = settings.MAILPANEL_ALIAS_EXPANSION_LIMIT
    box = data.mailbox(data.domain("fanout.test"), "gina")
    # The copy kept in the mailbox and limit - 1 forwards: the limit exactly.
    data.forward(box, *targets(limit - 1), keep_copy=True)
    subject = unique_subject("at the limit")

    send(mail.smtp_port, SENDER, [box.address], subject)

    imap_wait_for(mail.imap_port, box.address, data.PASSWORD, subject)
    received = mail.sink.wait_for(subject)
    assert sorted(r for m in received for r in m.rcpt_tos) == sorted(targets(limit - 1))

    forward = Forward.objects.get(mailbox=box)
    forward.destinations = "\n".join(targets(limit))
    with pytest.raises(ValidationError, match=f"at most {limit}"):
        forward.full_clean()
    # Saved anyway, past the model, Postfix refuses it for the time being.
    Forward.objects.filter(pk=forward.pk).update(destinations=forward.destinations)
    lookups.sync_domains({box.domain_id})

    with pytest.raises(smtplib.SMTPDataError) as excinfo:
        send(mail.smtp_port, SENDER, [box.address], unique_subject("one more"))
    assert 400 <= excinfo.value.smtp_code < 500, excinfo.value
