"""A small authoritative-style DNS server for the tests, built on dnspython.

It answers on a loopback port over UDP and TCP from an in-memory zone, and can
misbehave on purpose: REFUSED or SERVFAIL for a name (and everything below
it), no answer at all (the client times out), NXDOMAIN for every name (as some
filtering resolvers do), and a delay added to every answer (the benchmark).
One thread per query, so a delay does not serialise concurrent clients.
"""

from __future__ import annotations

import socket
import socketserver
import struct
import threading
import time
from collections import defaultdict

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

REFUSED = "refused"
SERVFAIL = "servfail"
DROP = "drop"


class DnsTestServer:
    """Answers from ``records``; ``behaviours`` override whole subtrees."""

    def __init__(self, host: str = "127.0.0.1", delay: float = 0.0) -> None:
        self.host = host
        self.delay = delay
        self.nxdomain_everything = False
        self.records: dict[tuple[dns.name.Name, int], list[str]] = defaultdict(list)
        self.behaviours: dict[dns.name.Name, str] = {}
        self.queries: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._udp: socketserver.ThreadingUDPServer | None = None
        self._tcp: socketserver.ThreadingTCPServer | None = None
        self.port = 0

    # --- Zone data ------------------------------------------------------------

    def add(self, name: str, rdtype: str, *values: str) -> None:
        key = (dns.name.from_text(name), dns.rdatatype.from_text(rdtype))
        self.records[key].extend(values)

    def behave(self, name: str, behaviour: str) -> None:
        """REFUSED, SERVFAIL or DROP for ``name`` and every name below it."""
        self.behaviours[dns.name.from_text(name)] = behaviour

    def reset(self) -> None:
        self.records.clear()
        self.behaviours.clear()
        self.queries.clear()
        self.nxdomain_everything = False
        self.delay = 0.0

    @property
    def address(self) -> str:
        """The ``IP:PORT`` form MAILPANEL_DNS_RESOLVER and --resolver take."""
        return f"{self.host}:{self.port}"

    # --- Answering --------------------------------------------------------------

    def answer(self, wire: bytes) -> bytes | None:
        """The response to one query in wire format, or None to stay silent."""
        query = dns.message.from_wire(wire)
        question = query.question[0]
        with self._lock:
            self.queries.append(
                (question.name.to_text(), dns.rdatatype.to_text(question.rdtype))
            )
        if self.delay:
            time.sleep(self.delay)
        response = dns.message.make_response(query)
        response.flags |= dns.flags.RA
        behaviour = self._behaviour(question.name)
        if behaviour == DROP:
            return None
        if behaviour == REFUSED:
            response.set_rcode(dns.rcode.REFUSED)
        elif behaviour == SERVFAIL:
            response.set_rcode(dns.rcode.SERVFAIL)
        elif self.nxdomain_everything or not self._exists(question.name):
            response.set_rcode(dns.rcode.NXDOMAIN)
        else:
            values = self.records.get((question.name, question.rdtype), [])
            if values:
                response.answer.append(
                    dns.rrset.from_text_list(
                        question.name, 300, "IN", question.rdtype, values
                    )
                )
        return response.to_wire()

    def _behaviour(self, name: dns.name.Name) -> str | None:
        for origin, behaviour in self.behaviours.items():
            if name.is_subdomain(origin):
                return behaviour
        return None

    def _exists(self, name: dns.name.Name) -> bool:
        # A name exists when it has records or names below it (empty non-terminal).
        return any(owner.is_subdomain(name) for owner, _ in self.records)

    # --- Life cycle ---------------------------------------------------------------

    def start(self) -> DnsTestServer:
        server = self

        class Udp(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                data, sock = self.request
                reply = server.answer(data)
                if reply is not None:
                    sock.sendto(reply, self.client_address)

        class Tcp(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                header = self.request.recv(2)
                if len(header) < 2:
                    return
                (length,) = struct.unpack("!H", header)
                data = b""
                while len(data) < length:
                    chunk = self.request.recv(length - len(data))
                    if not chunk:
                        return
                    data += chunk
                reply = server.answer(data)
                if reply is not None:
                    self.request.sendall(struct.pack("!H", len(reply)) + reply)

        for _ in range(20):
            udp = socketserver.ThreadingUDPServer((self.host, 0), Udp)
            port = udp.server_address[1]
            try:
                tcp = socketserver.ThreadingTCPServer((self.host, port), Tcp)
            except OSError:
                udp.server_close()
                continue
            break
        else:  # pragma: no cover
            raise RuntimeError("no free port for both UDP and TCP")
        for srv in (udp, tcp):
            srv.daemon_threads = True
            threading.Thread(target=srv.serve_forever, daemon=True).start()
        self._udp, self._tcp, self.port = udp, tcp, port
        return self

    def stop(self) -> None:
        for srv in (self._udp, self._tcp):
            if srv is not None:
                srv.shutdown()
                srv.server_close()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on (for "connection refused" tests)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]
