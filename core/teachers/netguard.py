"""Where an API key may go: the network guard of the paid API teacher (`core.teachers.api`). A base URL whose host
is an inner name (localhost, cloud metadata, .internal…) or address (loopback, link-local, private, shared) is
refused before any look-up (`check_base_url`), and every address a name resolves to is checked again at each
connection, the socket made to the very address checked (`resolve_checked`, `Exchange`: one POST in a worker thread,
its answer capped in bytes, abandoned at a deadline or a cancel). Security-critical: kept apart, and small."""

from __future__ import annotations

import http.client
import ipaddress
import socket
import threading
from typing import Protocol
from urllib.parse import urlparse

from core.teachers.base import TeacherUnavailable

# -- where the key may go --------------------------------------------------------------------------------
# Names that lead inside the machine or the cloud account whatever DNS says (checked before any look-up).
_INNER_NAMES = {
    "localhost",
    "metadata",
    "metadata.google.internal",
    "metadata.goog",
    "instance-data",
    "instance-data.ec2.internal",
    "metadata.azure.com",
    "metadata.tencentyun.com",
}
_INNER_SUFFIXES = (".localhost", ".internal", ".local", ".home.arpa")
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT; Alibaba Cloud's metadata is 100.100.100.200


def _inner_name(host: str) -> str | None:
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return "a loopback name"
    if name in _INNER_NAMES or name.endswith(_INNER_SUFFIXES):
        return "a cloud-metadata or internal name"
    return None


def _inner_address(address: str) -> str | None:
    """Why an IP address is not public, or None. `10.0.0.1` -> 'a private address'."""
    try:
        ip = ipaddress.ip_address(
            address.split("%", 1)[0]
        )  # an IPv6 zone (fe80::1%eth0) says nothing about the address
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address (where cloud metadata services answer)"
    if ip.is_private or ip.is_unspecified or ip.is_multicast or ip.is_reserved or (ip.version == 4 and ip in _SHARED):
        return "a private address"
    return None


def _refusal(host: str, why: str, address: str | None = None) -> TeacherUnavailable:
    where = f"{host} ({address})" if address and address != host else host
    return TeacherUnavailable(
        f"The API address {where} is {why}, so the key is not sent there; use a public endpoint, or set "
        "EMBEDDING_LAB_API_ALLOW_PRIVATE=1 if you run that server yourself."
    )


class Endpoint(Protocol):
    """What the guard reads of the API's settings (`core.teachers.api.ApiSettings`)."""

    base_url: str
    allow_private: bool


def check_base_url(settings: Endpoint) -> None:
    """Refuse a base URL whose host is an inner name or address, without any look-up (the loader calls it; the
    addresses a name resolves to are checked at each connection)."""
    if settings.allow_private:
        return
    host = urlparse(settings.base_url).hostname or ""
    why = _inner_name(host) or _inner_address(host)
    if why:
        raise _refusal(host, why)


def resolve_checked(host: str, port: int, allow_private: bool) -> list[tuple]:
    """The addresses to connect to, every one of them checked (one inner address refuses the name: DNS may hand
    out any of them)."""
    if not allow_private and (why := _inner_name(host) or _inner_address(host)):
        raise _refusal(host, why)
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    if not allow_private:
        for info in infos:
            address = str(info[4][0])
            if why := _inner_address(address):
                raise _refusal(host, why, address)
    return infos


class TooBig(Exception):
    pass


class Exchange:
    """One POST, run in a worker thread so that the caller can stop waiting for it at a deadline or a cancel
    within a fraction of a second; closing its socket then ends the worker (its own timeouts bound it anyway)."""

    def __init__(self, url: str, body: bytes, headers: dict, timeout: float, cap: int, allow_private: bool):
        self.url, self.body, self.headers, self.timeout, self.cap = urlparse(url), body, headers, timeout, cap
        self.allow_private = allow_private
        self.conn: http.client.HTTPConnection | None = None
        self.sent = False  # the request left this machine: the provider may bill it
        self.result: tuple[int, http.client.HTTPMessage, bytes] | None = None
        self.error: BaseException | None = None
        self.done = threading.Event()

    def _connect(self, address, timeout=None, source_address=None):
        host, port = address
        last: OSError | None = None
        for family, kind, proto, _, sockaddr in resolve_checked(host, port, self.allow_private):
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(timeout)
                sock.connect(sockaddr)  # the very address that was checked: no second look-up to be fooled by
                return sock
            except OSError as err:
                last = err
                sock.close()
        raise last or OSError(f"no address for {host}")

    def run(self) -> None:
        try:
            cls = http.client.HTTPSConnection if self.url.scheme == "https" else http.client.HTTPConnection
            self.conn = conn = cls(self.url.hostname, self.url.port, timeout=self.timeout)
            conn._create_connection = self._connect  # http.client's own hook for how the socket is made
            response = None
            try:
                path = self.url.path + (f"?{self.url.query}" if self.url.query else "")
                conn.request("POST", path, self.body, self.headers)
                self.sent = True
                response = conn.getresponse()
                declared = response.getheader("Content-Length", "")
                if declared.strip().isdigit() and int(declared) > self.cap:
                    raise TooBig()
                data = response.read(self.cap + 1)
                if len(data) > self.cap:
                    raise TooBig()
                self.result = (response.status, response.headers, data)
            finally:
                self.abandon()  # an unread rest (a refused answer) must not keep the server writing into the socket
                if response is not None:
                    response.close()  # it holds its own reference to the socket: close() alone would leave it open
                conn.close()
        except BaseException as err:  # handed to the caller's thread, which decides
            self.error = err
        finally:
            self.done.set()

    def abandon(self) -> None:
        sock = getattr(self.conn, "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes the worker from a blocked read
            except OSError:
                pass
