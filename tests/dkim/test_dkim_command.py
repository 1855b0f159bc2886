"""manage.py dkim: generate, rotate, import, activate, list; one line per refusal."""

import io

import pytest
from django.core.management import CommandError, call_command

from dkim.management.commands.dkim import Command as DkimCommand
from dkim.models import DkimKey
from tests.dkim import pems
from tests.dkim.conftest import publish


def dkim(*args) -> str:
    out = io.StringIO()
    call_command("dkim", *args, stdout=out)
    return out.getvalue()


def test_it_generates_both_keys_and_prints_their_records(domain):
    out = dkim("generate", "example.org")
    rsa_key, ed_key = DkimKey.objects.order_by("-algorithm")
    assert (rsa_key.algorithm, ed_key.algorithm) == ("rsa", "ed25519")
    # The RSA record is split into strings of at most 255 characters.
    record = rsa_key.dns_record
    assert f'{rsa_key.record_name}. TXT "{record[:255]}" "{record[255:]}"' in out
    assert f'{ed_key.record_name}. TXT "{ed_key.dns_record}"' in out
    assert "PRIVATE" not in out


def test_it_generates_one_algorithm_with_another_size(domain):
    dkim("generate", "example.org", "--algorithm", "rsa", "--bits", "3072")
    assert list(DkimKey.objects.values_list("algorithm", "bits")) == [("rsa", 3072)]


def test_it_refuses_1024_bits(domain):
    with pytest.raises(CommandError, match="1024-bit keys are too weak"):
        dkim("generate", "example.org", "--bits", "1024")
    assert not DkimKey.objects.exists()


def test_it_refuses_an_unknown_domain(db):
    with pytest.raises(CommandError, match="nowhere.example is not a hosted domain"):
        dkim("generate", "nowhere.example")


def test_it_rotates(domain):
    dkim("generate", "example.org")
    DkimKey.objects.update(state=DkimKey.State.ACTIVE)
    dkim("rotate", "example.org", "--algorithm", "ed25519")
    assert DkimKey.objects.filter(state=DkimKey.State.PENDING).get().algorithm == (
        "ed25519"
    )


def test_it_imports_a_key_from_a_file(domain, tmp_path):
    path = tmp_path / "key.pem"
    path.write_text(pems.rsa_pem())
    out = dkim("import", "example.org", "mail", str(path))
    key = DkimKey.objects.get()
    assert (key.selector, key.imported) == ("mail", True)
    assert "mail._domainkey.example.org: new RSA key, pending" in out


IMPORT_ERRORS = {
    "not a key": ("mail", lambda: "just text\n", "private key: This is not a PEM"),
    "encrypted": ("mail", pems.encrypted_pem, "encrypted with a passphrase"),
    "512 bits": ("mail", lambda: pems.RSA_512, "This RSA key has 512 bits"),
    "bad selector": ("mail.2024", pems.ed25519_pem, "selector: A selector is one DNS"),
}


@pytest.mark.parametrize("case", IMPORT_ERRORS)
def test_it_refuses_bad_imports_and_saves_nothing(domain, tmp_path, case):
    selector, make, message = IMPORT_ERRORS[case]
    path = tmp_path / "key.pem"
    path.write_text(make())
    with pytest.raises(CommandError) as raised:
        dkim("import", "example.org", selector, str(path))
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)
    assert not DkimKey.objects.exists()


def test_it_refuses_a_duplicate_selector(domain, tmp_path):
    path = tmp_path / "key.pem"
    path.write_text(pems.ed25519_pem())
    dkim("import", "example.org", "mail", str(path))
    with pytest.raises(CommandError, match="already has a key with the selector"):
        dkim("import", "example.org", "mail", str(path))
    assert DkimKey.objects.count() == 1


def test_it_says_when_the_file_cannot_be_read(domain, tmp_path):
    with pytest.raises(CommandError, match="Cannot read .*No such file"):
        dkim("import", "example.org", "mail", str(tmp_path / "missing.pem"))


def test_it_activates_once_dns_serves_the_record_or_when_forced(domain, dns):
    dkim("generate", "example.org")
    rsa_key, ed_key = DkimKey.objects.order_by("-algorithm")
    dns.add("example.org", "A", "203.0.113.25")
    with pytest.raises(CommandError, match="DNS does not serve the record"):
        dkim("activate", "example.org", rsa_key.selector)
    publish(dns, rsa_key)
    assert "is active" in dkim("activate", "example.org", rsa_key.selector)
    dkim("activate", "example.org", ed_key.selector.upper(), "--force")
    assert set(DkimKey.objects.values_list("state", flat=True)) == {"active"}


def test_it_lists_keys_without_key_material(domain, other_domain):
    dkim("generate", "example.org")
    dkim("generate", "example.net", "--algorithm", "ed25519")
    everything = dkim("list")
    assert len(everything.splitlines()) == 3
    one = dkim("list", "example.org").splitlines()
    assert [line.split("\t")[2:5] for line in one] == [
        ["ed25519", "256", "pending"],
        ["rsa", "2048", "pending"],
    ]
    for key in DkimKey.objects.all():
        assert key.public_key not in everything


# Transactional: run_from_argv closes the database connections when done.
@pytest.mark.django_db(transaction=True)
def test_it_exits_1_with_one_line_on_stderr(domain, tmp_path, capsys):
    path = tmp_path / "key.pem"
    path.write_text(pems.encrypted_pem())
    with pytest.raises(SystemExit) as exited:
        DkimCommand().run_from_argv(
            [
                "manage.py",
                "dkim",
                "--skip-checks",
                "import",
                "example.org",
                "mail",
                str(path),
            ]
        )
    assert exited.value.code == 1
    assert capsys.readouterr().err.splitlines() == [
        "CommandError: private key: This private key is encrypted with a passphrase; "
        "decrypt it first (openssl pkey -in key.pem -out plain.pem) and import the "
        "result."
    ]
    assert not DkimKey.objects.exists()
