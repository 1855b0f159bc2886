"""The DNSBL core against a real DNS server on loopback."""

import asyncio

from monitoring.dnsbl import DOMAIN, Verdict, Zone, dnsbl_check
from tests.monitoring.conftest import list_entry, working_zone
from tests.monitoring.dns_server import DROP, REFUSED, SERVFAIL


def check(resolver, zones, *subjects, **kwargs):
    return asyncio.run(
        dnsbl_check(resolver=resolver, zones=zones, subjects=subjects, **kwargs)
    )


def only_answer(report):
    assert len(report.answers) == 1
    return report.answers[0]


def test_it_reports_a_listing_with_its_txt_reason_and_removal_link(dns, resolver, zen):
    working_zone(dns, zen)
    list_entry(
        dns, "zen.test", "203.0.113.5", "127.0.0.2",
        txt="Listed in SBL, see https://check.example/query/203.0.113.5",
    )  # fmt: skip
    answer = only_answer(check(resolver, [zen], "203.0.113.5"))
    assert answer.verdict is Verdict.LISTED
    assert answer.reasons[0]["label"] == "SBL"
    assert answer.txt == ["Listed in SBL, see https://check.example/query/203.0.113.5"]
    assert answer.removal_url == "https://check.example/query/203.0.113.5"


def test_it_reports_an_unlisted_address_as_clean(dns, resolver, zen):
    working_zone(dns, zen)
    answer = only_answer(check(resolver, [zen], "203.0.113.6"))
    assert answer.verdict is Verdict.CLEAN


def test_it_keeps_every_return_code_of_a_listing(dns, resolver, zen):
    working_zone(dns, zen)
    list_entry(dns, "zen.test", "203.0.113.5", "127.0.0.10", "127.0.0.2")
    answer = only_answer(check(resolver, [zen], "203.0.113.5"))
    assert answer.codes == ["127.0.0.2", "127.0.0.10"]
    assert [r["label"] for r in answer.reasons] == ["SBL", "PBL"]


def test_it_checks_ipv6_addresses_by_nibbles(dns, resolver, zen):
    working_zone(dns, zen)
    list_entry(dns, "zen.test", "2001:db8::25", "127.0.0.2")
    answer = only_answer(check(resolver, [zen], "2001:DB8:0::25"))
    assert answer.subject == "2001:db8::25"
    assert answer.verdict is Verdict.LISTED


def test_it_skips_ipv6_on_a_zone_that_lists_only_ipv4(dns, resolver, zen):
    from dataclasses import replace

    zone = working_zone(dns, replace(zen, ipv6=False))
    report = check(resolver, [zone], "2001:db8::25", "203.0.113.5")
    assert [a.subject for a in report.answers] == ["203.0.113.5"]


def test_it_asks_each_address_and_zone_pair_once(dns, resolver, zen):
    working_zone(dns, zen)
    report = check(resolver, [zen], "203.0.113.5", "203.0.113.5", " 203.0.113.5")
    asked = [q for q in dns.queries if q[0].startswith("5.113.0.203.")]
    assert len(report.answers) == 1
    assert asked == [("5.113.0.203.zen.test.", "A")]


def test_it_sends_domains_only_to_domain_lists(dns, resolver, zen):
    dbl = Zone(
        "dbl.test", kind=DOMAIN, test_listed="dbltest.com", test_unlisted="invalid",
        return_codes={"127.0.1.2": {"label": "DBL spam"}},
    )  # fmt: skip
    working_zone(dns, zen)
    working_zone(dns, dbl)
    list_entry(dns, "dbl.test", "spammy.example", "127.0.1.2")
    report = check(resolver, [zen, dbl], "203.0.113.5", "spammy.example")
    by_zone = {(a.zone.name, a.subject): a.verdict for a in report.answers}
    assert by_zone == {
        ("zen.test", "203.0.113.5"): Verdict.CLEAN,
        ("dbl.test", "spammy.example"): Verdict.LISTED,
    }


def test_it_decodes_bitmask_lists(dns, resolver):
    uribl = Zone(
        "multi.uribl.test", kind=DOMAIN, bitmask=True,
        test_listed="test.uribl.com", test_unlisted="invalid",
        return_codes={"2": {"label": "black"}, "4": {"label": "grey"},
                      "8": {"label": "red"}},
        error_codes={"127.0.0.1": {"meaning": "refused", "advice": "Own resolver."}},
    )  # fmt: skip
    working_zone(dns, uribl)
    list_entry(dns, "multi.uribl.test", "spammy.example", "127.0.0.10")
    answer = only_answer(check(resolver, [uribl], "spammy.example"))
    assert answer.verdict is Verdict.LISTED
    assert [r["label"] for r in answer.reasons] == ["black", "red"]


def test_it_reports_uribl_refusal_as_an_error_not_a_listing(dns, resolver):
    uribl = Zone(
        "multi.uribl.test", kind=DOMAIN, bitmask=True,
        test_listed="test.uribl.com", test_unlisted="invalid",
        return_codes={"2": {"label": "black"}},
        error_codes={"127.0.0.1": {"meaning": "refused", "advice": "Own resolver."}},
    )  # fmt: skip
    list_entry(dns, "multi.uribl.test", "test.uribl.com", "127.0.0.1")
    report = check(resolver, [uribl], "example.org")
    health = report.zones[0]
    assert not health.ok
    assert "refused" in health.detail
    assert health.advice == "Own resolver."
    assert report.answers == []


def test_it_reports_each_spamhaus_error_code_with_its_advice(dns, resolver, zen):
    working_zone(dns, zen)
    for last, advice in [
        ("252", "Check the zone name."),
        ("254", "Use your own recursive resolver."),
        ("255", "Use your own."),
    ]:
        list_entry(dns, "zen.test", "203.0.113.5", f"127.255.255.{last}")
        answer = only_answer(check(resolver, [zen], "203.0.113.5"))
        assert answer.verdict is Verdict.ERROR, last
        assert answer.advice == advice
        dns.records.clear()
        working_zone(dns, zen)


def test_it_reports_the_dbl_error_code(dns, resolver):
    dbl = Zone(
        "dbl.test", kind=DOMAIN, test_listed="dbltest.com", test_unlisted="invalid",
        error_codes={"127.0.1.255": {"meaning": "refused", "advice": "Own resolver."}},
    )  # fmt: skip
    list_entry(dns, "dbl.test", "dbltest.com", "127.0.1.255")
    health = check(resolver, [dbl], "example.org").zones[0]
    assert not health.ok
    assert health.advice == "Own resolver."


def test_it_cannot_check_through_a_resolver_that_says_nxdomain_to_everything(
    dns, resolver, zen
):
    working_zone(dns, zen)
    dns.nxdomain_everything = True
    report = check(resolver, [zen], "203.0.113.5")
    assert not report.zones[0].ok
    assert "NXDOMAIN for everything" in report.zones[0].detail
    # Never "clean": the zone's subjects are not reported at all.
    assert report.answers == []


def test_it_cannot_check_a_zone_that_lists_everything(dns, resolver, zen):
    working_zone(dns, zen)
    list_entry(dns, "zen.test", "127.0.0.1", "127.0.0.2")
    health = check(resolver, [zen], "203.0.113.5").zones[0]
    assert not health.ok
    assert "lists everything" in health.detail


def test_it_cannot_check_when_the_resolver_refuses(dns, resolver, zen):
    working_zone(dns, zen)
    dns.behave("zen.test", REFUSED)
    health = check(resolver, [zen], "203.0.113.5").zones[0]
    assert not health.ok
    assert "refused" in health.detail


def test_it_cannot_check_on_servfail(dns, resolver, zen):
    working_zone(dns, zen)
    dns.behave("zen.test", SERVFAIL)
    health = check(resolver, [zen], "203.0.113.5").zones[0]
    assert not health.ok
    assert "SERVFAIL" in health.detail


def test_it_cannot_check_when_the_zone_times_out(dns, resolver, zen):
    working_zone(dns, zen)
    dns.behave("zen.test", DROP)
    health = check(resolver, [zen], "203.0.113.5").zones[0]
    assert not health.ok
    assert "in time" in health.detail


def test_it_reports_a_failure_on_one_subject_without_calling_it_clean(
    dns, resolver, zen
):
    working_zone(dns, zen)
    dns.behave("5.113.0.203.zen.test", SERVFAIL)
    report = check(resolver, [zen], "203.0.113.5", "203.0.113.6")
    verdicts = {a.subject: a.verdict for a in report.answers}
    assert verdicts == {"203.0.113.5": Verdict.FAILED, "203.0.113.6": Verdict.CLEAN}


def test_it_distrusts_answers_outside_127_0_0_0_8(dns, resolver, zen):
    working_zone(dns, zen)
    list_entry(dns, "zen.test", "203.0.113.5", "198.51.100.1")
    answer = only_answer(check(resolver, [zen], "203.0.113.5"))
    assert answer.verdict is Verdict.FAILED
    assert "rewrites answers" in answer.detail


def test_it_keeps_at_most_the_given_number_of_queries_in_flight(dns, resolver, zen):
    working_zone(dns, zen)
    dns.delay = 0.05
    subjects = [f"203.0.113.{i}" for i in range(1, 21)]
    report = check(resolver, [zen], *subjects, concurrency=5)
    # 20 queries, 5 at a time, 50 ms each: at least 4 rounds after the self-test.
    assert report.elapsed >= 0.05 + 4 * 0.05
    assert len(report.answers) == 20
