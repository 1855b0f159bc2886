"""The records a domain should publish, and what the test DNS answers for each."""

import pytest

from dkim.models import DkimKey
from dkim.services import dkim_key_activate, dkim_key_generate
from domains.models import Domain
from monitoring.answers import Answer
from monitoring.records import domain_dns_records, mta_sts_id, mta_sts_policy
from relays.models import DomainRelay
from tests.dkim.conftest import TEST_KEY, publish
from tests.monitoring.conftest import HELO, SERVER_IPV4
from tests.relays.conftest import make_relay

pytestmark = pytest.mark.django_db


@pytest.fixture
def domain(monitor_settings):
    monitor_settings.MAILPANEL_SECRET_ENCRYPTION_KEY = TEST_KEY
    return Domain.objects.create(name="example.org")


def by_name(records):
    return {(r.name, r.type): r for r in records}


def test_it_lists_every_record_to_publish(domain):
    rsa_key, ed_key = dkim_key_generate(domain=domain)

    records = by_name(domain_dns_records(domain, check=False))

    assert records["example.org", "MX"].value == f"10 {HELO}."
    assert records["example.org", "TXT"].value == f"v=spf1 ip4:{SERVER_IPV4} -all"
    assert records[rsa_key.record_name, "TXT"].value == rsa_key.dns_record
    assert records[ed_key.record_name, "TXT"].value == ed_key.dns_record
    # No key signs yet: DMARC starts by only reporting.
    assert records["_dmarc.example.org", "TXT"].value == (
        "v=DMARC1; p=none; rua=mailto:postmaster@example.org"
    )
    assert records["_smtp._tls.example.org", "TXT"].value == (
        "v=TLSRPTv1; rua=mailto:postmaster@example.org"
    )
    policy = mta_sts_policy(helo=HELO)
    assert records["_mta-sts.example.org", "TXT"].value == (
        f"v=STSv1; id={mta_sts_id(policy)}"
    )
    assert records["mta-sts.example.org", "CNAME"].optional
    assert records["_submission._tcp.example.org", "SRV"].value == f"0 1 587 {HELO}."
    assert records["_imaps._tcp.example.org", "SRV"].value == f"0 1 993 {HELO}."
    assert records["autoconfig.example.org", "CNAME"].value == f"{HELO}."
    assert records["autodiscover.example.org", "CNAME"].optional
    ptr = records["25.113.0.203.in-addr.arpa", "PTR"]
    assert (ptr.value, ptr.in_zone) == (f"{HELO}.", False)
    assert all(r.comparison is None for r in records.values())


def test_it_recommends_quarantine_once_a_key_signs(domain):
    rsa_key, _ = dkim_key_generate(domain=domain)
    dkim_key_activate(key=rsa_key, force=True)
    records = by_name(domain_dns_records(domain, check=False))
    assert records["_dmarc.example.org", "TXT"].value == (
        "v=DMARC1; p=quarantine; rua=mailto:postmaster@example.org"
    )


def test_it_lists_pending_active_and_retiring_keys_but_not_retired_ones(domain):
    keys = dkim_key_generate(domain=domain)
    states = ["pending", "active", "retiring", "retired"]
    extra = dkim_key_generate(domain=Domain.objects.create(name="x.example"))
    for key, state in zip([*keys, *extra], states, strict=True):
        DkimKey.objects.filter(pk=key.pk).update(state=state)
    # Keys of another domain are that domain's business.
    names = {r.name for r in domain_dns_records(domain, check=False)}
    assert {k.record_name for k in keys} <= names
    assert not {k.record_name for k in extra} & names


def test_it_adds_the_include_of_each_relay_the_domain_uses(domain):
    make_relay(name="all", host="smtp.a.example", username="u", is_default=True,
               spf_include="_spf.a.example")  # fmt: skip
    relay = make_relay(name="b", host="smtp.b.example", username="u",
                       spf_include="spf.b.example")  # fmt: skip
    DomainRelay.objects.create(domain=domain, relay=relay)
    make_relay(name="c", host="smtp.c.example", username="u", spf_include="c.example")

    spf = by_name(domain_dns_records(domain, check=False))["example.org", "TXT"]

    assert spf.value == (
        f"v=spf1 ip4:{SERVER_IPV4} include:_spf.a.example include:spf.b.example -all"
    )


def test_it_says_which_relay_lacks_an_include(domain):
    make_relay(name="isp", host="smtp.isp.example", username="u", is_default=True)
    spf = by_name(domain_dns_records(domain, check=False))["example.org", "TXT"]
    assert "Add the include: that isp documents" in spf.purpose


def test_it_compares_each_record_with_dns(domain, dns):
    rsa_key, ed_key = dkim_key_generate(domain=domain)
    dns.add("example.org", "MX", "10 mx.elsewhere.test.")
    dns.add("example.org", "TXT", f'"v=spf1 ip4:{SERVER_IPV4} ~all"')
    publish(dns, rsa_key)
    publish(dns, ed_key, ed_key.dns_record[:40])
    dns.add("_dmarc.example.org", "TXT", '"v=DMARC1; p=none"')
    dns.add("_smtp._tls.example.org", "TXT", '"v=TLSRPTv1; rua=mailto:t@example.org"')
    dns.add("_submission._tcp.example.org", "SRV", f"0 1 25 {HELO}.")
    dns.add("_imaps._tcp.example.org", "SRV", f"0 1 993 {HELO}.")
    dns.add("25.113.0.203.in-addr.arpa", "PTR", f"{HELO}.")

    records = by_name(domain_dns_records(domain))

    def outcome(name, rdtype):
        record = records[name, rdtype]
        return record.answer, record.how

    assert outcome("example.org", "MX") == (
        Answer.DIFFERS,
        "MX points at mx.elsewhere.test instead",
    )
    assert records["example.org", "MX"].current == ["10 mx.elsewhere.test."]
    assert outcome("example.org", "TXT") == (Answer.MATCHES, "")
    assert outcome(rsa_key.record_name, "TXT") == (Answer.MATCHES, "")
    assert outcome(ed_key.record_name, "TXT")[0] == Answer.DIFFERS
    assert "truncated" in outcome(ed_key.record_name, "TXT")[1]
    assert outcome("_dmarc.example.org", "TXT") == (
        Answer.DIFFERS,
        "no rua=, so no reports reach you",
    )
    assert outcome("_smtp._tls.example.org", "TXT") == (Answer.MATCHES, "")
    assert outcome("_mta-sts.example.org", "TXT")[0] == Answer.MISSING
    assert outcome("_submission._tcp.example.org", "SRV") == (
        Answer.DIFFERS,
        f"points at {HELO}:25 instead",
    )
    assert outcome("_imaps._tcp.example.org", "SRV") == (Answer.MATCHES, "")
    assert outcome("25.113.0.203.in-addr.arpa", "PTR") == (Answer.MATCHES, "")
    assert outcome("autoconfig.example.org", "CNAME")[0] == Answer.MISSING


def test_it_says_how_spf_differs(domain, dns):
    make_relay(name="all", host="smtp.a.example", username="u", is_default=True,
               spf_include="_spf.a.example")  # fmt: skip
    dns.add("example.org", "TXT", '"v=spf1 ip4:198.51.100.7 +all"')
    spf = by_name(domain_dns_records(domain))["example.org", "TXT"]
    # +all lets every address pass, ours too; what is missing is still said.
    assert spf.answer == Answer.DIFFERS
    assert spf.how == (
        "lacks include:_spf.a.example; ends in +all, which lets anyone send"
    )


def test_it_reports_an_spf_record_that_does_not_cover_us(domain, dns):
    dns.add("example.org", "TXT", '"v=spf1 ip4:198.51.100.7 -all"', '"other"')
    spf = by_name(domain_dns_records(domain))["example.org", "TXT"]
    assert (spf.answer, spf.how) == (Answer.DIFFERS, f"does not allow {SERVER_IPV4}")


def test_it_reports_two_spf_records(domain, dns):
    dns.add("example.org", "TXT", '"v=spf1 -all"', f'"v=spf1 ip4:{SERVER_IPV4} -all"')
    spf = by_name(domain_dns_records(domain))["example.org", "TXT"]
    assert spf.how == "2 SPF records: receivers ignore them all"


def test_it_cannot_check_when_the_resolver_fails(domain, dns):
    dns.behave("example.org", "servfail")
    records = domain_dns_records(domain)
    in_domain = [r for r in records if r.name.endswith("example.org")]
    assert {r.answer for r in in_domain} == {Answer.UNKNOWN}
    assert "SERVFAIL" in in_domain[0].how
