"""Reading doveadm's quota report."""

from mailserver.quota import parse_quota_json

REPORT = """[
{"username":"a@example.org","quota name":"User quota","type":"STORAGE",
 "value":"9","limit":"10","percent":"90"},
{"username":"a@example.org","quota name":"User quota","type":"MESSAGE",
 "value":"3","limit":"-","percent":"0"},
{"username":"b@example.org","quota name":"User quota","type":"STORAGE",
 "value":"1","limit":"-","percent":"0"}
]"""


def test_it_reads_storage_in_kibibytes_and_message_counts():
    usage = parse_quota_json(REPORT)
    assert usage["a@example.org"].bytes_used == 9 * 1024
    assert usage["a@example.org"].bytes_limit == 10 * 1024
    assert usage["a@example.org"].messages == 3
    assert usage["b@example.org"].bytes_limit == 0
