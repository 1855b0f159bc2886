from monitoring.dnsbl import build_query_name


def test_it_reverses_ipv4_octets():
    name = build_query_name("203.0.113.5", "zen.spamhaus.org")
    assert name.to_text() == "5.113.0.203.zen.spamhaus.org."


def test_it_reverses_all_32_ipv6_nibbles():
    name = build_query_name("2001:db8::1", "zen.spamhaus.org")
    nibbles = name.to_text().removesuffix(".zen.spamhaus.org.").split(".")
    assert len(nibbles) == 32
    assert nibbles[:2] == ["1", "0"]
    assert nibbles[-8:] == ["8", "b", "d", "0", "1", "0", "0", "2"]


def test_it_asks_domains_as_they_are():
    name = build_query_name("Example.ORG.", "dbl.spamhaus.org")
    assert name.to_text().lower() == "example.org.dbl.spamhaus.org."
