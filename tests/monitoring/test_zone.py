"""The BIND zone snippet: absolute names, TXT values cut at 255 bytes."""

import dns.zone

from monitoring.records import DnsRecord
from monitoring.zone import zone_line, zone_snippet

LONG = "v=DKIM1; k=rsa; p=" + "A" * 380 + "B" * 120


def record(name="example.org", rdtype="TXT", value="v=spf1 -all", **kwargs):
    return DnsRecord(name, rdtype, value, "why", **kwargs)


def test_it_writes_a_short_txt_record_as_one_string():
    assert zone_line(record()) == 'example.org. 3600 IN TXT   "v=spf1 -all"'


def test_it_splits_a_long_txt_record_into_strings_of_255_bytes():
    line = zone_line(record("s._domainkey.example.org", value=LONG))
    strings = [part.strip() for part in line.split('"')[1::2]]
    assert [len(s) for s in strings] == [255, 255, 8]
    assert "".join(strings) == LONG
    assert line.startswith('s._domainkey.example.org. 3600 IN TXT   ( "v=DKIM1;')
    assert line.endswith(" )")


def test_it_splits_at_exactly_255_bytes():
    exact = "x" * 255
    assert zone_line(record(value=exact)).count('"') == 2
    assert zone_line(record(value=exact + "y")).count('"') == 4


def test_it_escapes_quotes_and_backslashes():
    assert zone_line(record(value='a "b" \\c')).endswith('"a \\"b\\" \\\\c"')


def test_it_writes_a_snippet_bind_reads_back_the_same():
    records = [
        record("example.org", "MX", "10 mail.example.org."),
        record(),
        record("s._domainkey.example.org", value=LONG),
        record("mta-sts.example.org", "CNAME", "mail.example.org.", optional=True),
        record("25.2.0.192.in-addr.arpa", "PTR", "mail.example.org.", in_zone=False),
    ]
    text = zone_snippet("example.org", records)

    zone = dns.zone.from_text(
        text, origin="example.org.", relativize=False, check_origin=False
    )

    txt = zone.find_rdataset("s._domainkey.example.org.", "TXT")[0]
    assert b"".join(txt.strings).decode() == LONG
    assert all(len(s) <= 255 for s in txt.strings)
    assert zone.find_rdataset("example.org.", "MX")[0].to_text() == (
        "10 mail.example.org."
    )
    # Optional and reverse records are comments: there, but not loaded.
    assert "; mta-sts.example.org." in text
    assert "; 25.2.0.192.in-addr.arpa. 3600 IN PTR   mail.example.org." in text
    assert zone.get_node("mta-sts.example.org.") is None
