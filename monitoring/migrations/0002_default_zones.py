"""The default DNSBL set (2026): lists that are alive and free for small servers.

The data is written out here rather than imported, so that later edits of the
zones in code cannot change what this migration did. SORBS (closed June 2024),
NiX Spam and WPBL are defunct and deliberately absent.
"""

from django.db import migrations

OWN_RESOLVER = (
    "Use your own recursive resolver (for example unbound on 127.0.0.1) and set "
    "MAILPANEL_DNS_RESOLVER to it: public resolvers are refused."
)
PBL_ADVICE = (
    "Send through a relay host, or get a static business address with a matching "
    "PTR and ask for removal."
)
SPAMHAUS_ERRORS = {
    "127.255.255.252": {
        "meaning": "the query names a zone that does not exist (typing error)",
        "advice": "Check the zone name in the DNSBL zones list.",
    },
    "127.255.255.254": {
        "meaning": "Spamhaus refuses queries that come through a public or open "
        "resolver",
        "advice": OWN_RESOLVER,
    },
    "127.255.255.255": {
        "meaning": "your resolver has sent Spamhaus more queries than free use allows",
        "advice": "Use your own recursive resolver rather than a shared one; for "
        "high volumes, use a Spamhaus Data Query Service key.",
    },
}

ZONES = [
    {
        "zone": "zen.spamhaus.org",
        "kind": "ip",
        "description": "Spamhaus ZEN: SBL, CSS, XBL, DROP and PBL in one list.",
        "weight": 10,
        "ipv6": True,
        "lookup_url": "https://check.spamhaus.org/results/?query={subject}",
        "return_codes": {
            "127.0.0.2": {
                "label": "SBL",
                "meaning": "Spamhaus lists this address as a source of spam or as "
                "run by spammers.",
                "advice": "Find and stop whatever sends the spam (a compromised "
                "account, a web form, a script), then ask for removal.",
            },
            "127.0.0.3": {
                "label": "CSS",
                "meaning": "this address recently sent low-reputation mail "
                "(snowshoe spam or a compromised account).",
                "advice": "Look in the mail log for unusual volumes, lock "
                "compromised accounts and make sure HELO and PTR match; the listing "
                "ends on its own once the bad mail stops.",
            },
            "127.0.0.4": {
                "label": "XBL",
                "meaning": "a machine using this address is infected or runs an "
                "open proxy.",
                "advice": "Find and clean the infected machine (everything behind "
                "the same NAT shares the address), then ask for removal.",
            },
            "127.0.0.9": {
                "label": "DROP",
                "meaning": "the whole network is hijacked or run by criminals: "
                "nobody accepts mail from it.",
                "advice": "Move the server to a reputable provider.",
            },
            "127.0.0.10": {
                "label": "PBL (ISP)",
                "meaning": "this address is in a range its ISP marks as residential "
                "or dynamic: other servers will refuse mail sent straight from it.",
                "advice": PBL_ADVICE,
                "direct_only": True,
            },
            "127.0.0.11": {
                "label": "PBL (Spamhaus)",
                "meaning": "this address is in a range Spamhaus marks as residential "
                "or dynamic: other servers will refuse mail sent straight from it.",
                "advice": PBL_ADVICE,
                "direct_only": True,
            },
            "127.0.0.30": {
                "label": "BCL",
                "meaning": "this address runs a botnet controller.",
                "advice": "Take the machine off the network and clean it.",
            },
        },
        "error_codes": SPAMHAUS_ERRORS,
    },
    {
        "zone": "bl.spamcop.net",
        "kind": "ip",
        "description": "SpamCop: addresses users reported for spam recently.",
        "weight": 5,
        "ipv6": False,
        "lookup_url": "https://www.spamcop.net/bl.shtml?{subject}",
        "return_codes": {
            "127.0.0.2": {
                "label": "SpamCop",
                "meaning": "people reported spam from this address in the last days.",
                "advice": "Find what sent the reported mail; the listing expires "
                "24 hours after the reports stop.",
            }
        },
    },
    {
        "zone": "b.barracudacentral.org",
        "kind": "ip",
        "description": "Barracuda reputation; answers registered resolvers only.",
        "weight": 5,
        "ipv6": False,
        "lookup_url": "https://www.barracudacentral.org/lookups/lookup-reputation",
        "return_codes": {
            "127.0.0.2": {
                "label": "Barracuda",
                "meaning": "Barracuda gives this address a poor reputation.",
                "advice": "Stop the source of bad mail, then ask for removal at "
                "https://www.barracudacentral.org/rbl/removal-request.",
            }
        },
    },
    {
        "zone": "psbl.surriel.com",
        "kind": "ip",
        "description": "Passive Spam Block List: spam-trap hits.",
        "weight": 3,
        "ipv6": False,
        "lookup_url": "https://psbl.org/listing?ip={subject}",
        "return_codes": {
            "127.0.0.2": {
                "label": "PSBL",
                "meaning": "this address sent mail to PSBL's spam traps.",
                "advice": "Fix the cause, then remove the address yourself on the "
                "PSBL page.",
            }
        },
    },
    {
        "zone": "bl.mailspike.net",
        "kind": "ip",
        "description": "Mailspike blocklist.",
        "weight": 3,
        "ipv6": False,
        "return_codes": {
            "127.0.0.2": {
                "label": "Mailspike",
                "meaning": "Mailspike lists this address for sending spam.",
                "advice": "Fix the cause; the listing expires once the spam stops.",
            }
        },
    },
    {
        "zone": "dnsbl-1.uceprotect.net",
        "kind": "ip",
        "description": "UCEPROTECT level 1 (single addresses). Levels 2 and 3 list "
        "whole networks and are not used.",
        "weight": 2,
        "ipv6": False,
        "lookup_url": "https://www.uceprotect.net/en/rblcheck.php?ipr={subject}",
        "return_codes": {
            "127.0.0.2": {
                "label": "UCEPROTECT-1",
                "meaning": "this address sent mail to UCEPROTECT's spam traps.",
                "advice": "Fix the cause; the listing expires after 7 days without "
                "new hits, so paid express removal is not needed.",
                "severity": "warning",
            }
        },
    },
    {
        "zone": "dbl.spamhaus.org",
        "kind": "domain",
        "description": "Spamhaus Domain Block List.",
        "weight": 10,
        "test_listed": "dbltest.com",
        "test_unlisted": "invalid",
        "lookup_url": "https://check.spamhaus.org/results/?query={subject}",
        "return_codes": {
            "127.0.1.2": {
                "label": "DBL spam",
                "meaning": "the domain is used in spam.",
            },
            "127.0.1.4": {
                "label": "DBL phish",
                "meaning": "the domain is used for phishing.",
            },
            "127.0.1.5": {
                "label": "DBL malware",
                "meaning": "the domain serves malware.",
            },
            "127.0.1.6": {
                "label": "DBL botnet C&C",
                "meaning": "the domain controls a botnet.",
            },
            "127.0.1.102": {
                "label": "DBL abused (spam)",
                "meaning": "a legitimate site of this domain is abused by spammers.",
            },
            "127.0.1.103": {
                "label": "DBL abused (redirector)",
                "meaning": "the domain hosts an open redirector that spammers use.",
            },
            "127.0.1.104": {
                "label": "DBL abused (phish)",
                "meaning": "a legitimate site of this domain is abused for phishing.",
            },
            "127.0.1.105": {
                "label": "DBL abused (malware)",
                "meaning": "a legitimate site of this domain is abused to serve malware.",
            },
            "127.0.1.106": {
                "label": "DBL abused (botnet C&C)",
                "meaning": "a legitimate site of this domain is abused to control a botnet.",
            },
        },
        "error_codes": {
            "127.0.1.255": {
                "meaning": "Spamhaus refused the query (public resolver or too many "
                "queries)",
                "advice": OWN_RESOLVER,
            },
            **SPAMHAUS_ERRORS,
        },
    },
    {
        "zone": "multi.uribl.com",
        "kind": "domain",
        "description": "URIBL (black, grey, red) as a bitmask.",
        "weight": 5,
        "bitmask": True,
        "test_listed": "test.uribl.com",
        "test_unlisted": "invalid",
        "return_codes": {
            "2": {"label": "URIBL black", "meaning": "the domain appears in spam."},
            "4": {
                "label": "URIBL grey",
                "meaning": "the domain sends bulk mail that many people did not ask for.",
                "severity": "warning",
            },
            "8": {
                "label": "URIBL red",
                "meaning": "the domain was registered recently and appears in spam.",
            },
        },
        "error_codes": {
            "127.0.0.1": {
                "meaning": "URIBL refused the query (public resolver or too many "
                "queries)",
                "advice": OWN_RESOLVER,
            }
        },
    },
    {
        "zone": "multi.surbl.org",
        "kind": "domain",
        "description": "SURBL (phishing, malware, abuse, cracked) as a bitmask.",
        "weight": 5,
        "bitmask": True,
        "test_listed": "test.surbl.org",
        "test_unlisted": "invalid",
        "return_codes": {
            "8": {"label": "SURBL PH", "meaning": "the domain appears in phishing."},
            "16": {"label": "SURBL MW", "meaning": "the domain appears in malware."},
            "64": {"label": "SURBL ABUSE", "meaning": "the domain appears in spam."},
            "128": {
                "label": "SURBL CR",
                "meaning": "a site of this domain is cracked and abused.",
            },
        },
    },
]

DEFAULT_ADVICE = (
    "Find and stop whatever sent the bad mail or hosts the bad content, then ask "
    "for removal through the link."
)


def add_zones(apps, schema_editor):
    DnsblZone = apps.get_model("monitoring", "DnsblZone")
    for data in ZONES:
        data = dict(data)
        codes = {
            code: {"advice": DEFAULT_ADVICE, **meaning}
            for code, meaning in data.pop("return_codes").items()
        }
        DnsblZone.objects.update_or_create(
            zone=data.pop("zone"), defaults={**data, "return_codes": codes}
        )


def remove_zones(apps, schema_editor):
    DnsblZone = apps.get_model("monitoring", "DnsblZone")
    DnsblZone.objects.filter(zone__in=[z["zone"] for z in ZONES]).delete()


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0001_initial")]

    operations = [migrations.RunPython(add_zones, remove_zones)]
