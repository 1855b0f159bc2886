"""Verifying DKIM signatures the way a receiver does: dkimpy, keys from DNS.

The project's Django app is called ``dkim`` too, and the project root comes
first on sys.path, so ``import dkim`` finds the app. dkimpy's modules import
each other as ``dkim.*`` only while it is imported, so it is imported once
with the app's modules set aside and the project root off the path, then
the app's modules are put back; dkimpy keeps working under the name
``dkimpy`` here.
"""

from __future__ import annotations

import importlib
import re
import sys
from dataclasses import dataclass
from email import message_from_bytes
from pathlib import Path

import dns.exception
import dns.resolver

ROOT = Path(__file__).resolve().parents[2]


def _import_dkimpy():
    def take(modules: dict) -> dict:
        names = [n for n in modules if n == "dkim" or n.startswith("dkim.")]
        return {name: modules.pop(name) for name in names}

    ours = take(sys.modules)
    path = list(sys.path)
    try:
        sys.path[:] = [p for p in path if Path(p or ".").resolve() != ROOT]
        module = importlib.import_module("dkim")
        take(sys.modules)
    finally:
        sys.path[:] = path
        sys.modules.update(ours)
    return module


dkimpy = _import_dkimpy()


@dataclass(frozen=True)
class Signature:
    domain: str
    selector: str
    algorithm: str  # a= : rsa-sha256, ed25519-sha256
    valid: bool


def txt_record(value: str) -> str:
    """A TXT value in zone-file form, split into strings of 255 bytes."""
    chunks = [value[i : i + 255] for i in range(0, len(value), 255)]
    return " ".join(f'"{chunk}"' for chunk in chunks)


def _tags(header: str) -> dict[str, str]:
    value = re.sub(r"\s+", "", header)
    return dict(part.split("=", 1) for part in value.split(";") if "=" in part)


def signatures(raw: bytes, dns_port: int) -> list[Signature]:
    """Every DKIM-Signature of ``raw``, each verified with dkimpy; the public
    keys come from the test DNS server on 127.0.0.1:``dns_port``."""
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = dns_port

    def dnsfunc(name, timeout=5):
        name = name.decode() if isinstance(name, bytes) else name
        try:
            answer = resolver.resolve(
                name, "TXT", raise_on_no_answer=False, lifetime=timeout
            )
        except (dns.resolver.NXDOMAIN, dns.exception.Timeout):
            return None
        for record in answer.rrset or []:
            return b"".join(record.strings)
        return None

    headers = message_from_bytes(raw).get_all("DKIM-Signature") or []
    found = []
    for index, header in enumerate(headers):
        tags = _tags(str(header))
        valid = dkimpy.DKIM(raw).verify(idx=index, dnsfunc=dnsfunc)
        found.append(Signature(tags.get("d", ""), tags.get("s", ""), tags["a"], valid))
    return found
