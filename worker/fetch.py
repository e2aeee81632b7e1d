"""Fetching a feed URL from an untrusted server: public addresses only, bounded.

``fetch`` downloads ``url`` into an anonymous temporary file::

    body = fetch("https://example.org/rss", FetchPolicy(timeout_s=30))

Every hop (the URL and each redirect, at most ``max_redirects``) must be
http or https; its host is resolved once, each address is checked, and the
connection goes to the checked address (a second DNS answer cannot swap it
for another: DNS rebinding). Loopback, private, link-local, shared (CGNAT),
multicast, reserved and unspecified addresses are refused unless
``allow_private`` (an intranet feed server); an IPv4 address written in
another form (``2130706433``, ``0x7f.1``, ``[::ffff:127.0.0.1]``) is checked
as the address it resolves to. ``timeout_s`` bounds the whole fetch, redirects,
headers and body included (a server trickling bytes is cut off at the
deadline), and ``max_bytes`` the body.

URLs are shown through ``mask_feed_url``: no credentials, no query string.
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any
from urllib.parse import SplitResult, unquote, urljoin, urlsplit

from newsclf.errors import InputError

MAX_REDIRECTS = 5
"""Redirects followed before a fetch is refused."""

MAX_BODY_BYTES = 64 * 1024 * 1024
"""Largest body accepted."""

TIMEOUT_S = 30.0
"""Default total deadline of one fetch (every hop, headers and body)."""

USER_AGENT = "newsclf feed reader"

Resolver = Callable[[str, int], list[str]]
"""``(host, port) -> addresses``; the default asks the system resolver once."""


@dataclass(frozen=True)
class FetchPolicy:
    """What a fetch may do."""

    allow_private: bool = False
    """Allow non-public addresses (an intranet feed server)."""
    timeout_s: float = TIMEOUT_S
    max_bytes: int = MAX_BODY_BYTES
    max_redirects: int = MAX_REDIRECTS
    trusted: frozenset[tuple[str, int]] = field(default_factory=frozenset)
    """``(address, port)`` pairs treated as public whatever their range: how a test
    lets a loopback server play the public feed host (and nothing else)."""
    resolve: Resolver | None = None


def mask_feed_url(url: str) -> str:
    """A feed URL fit to show or store: its whole user info, query string and
    fragment replaced by ``***``.

    Stricter than ``newsclf.urls.mask_url`` (which keeps the user name and the
    query parameters not known to be secret, for database and broker URLs): a
    feed URL's user name is often a token, and any query parameter may be a key
    (``?sig=``, ``?k=``), so none is stored or shown."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = "***" if parts.query else ""
    return SplitResult(parts.scheme, netloc, parts.path, query, "").geturl()


def is_public(address: str) -> bool:
    """True for a globally routable unicast address (an IPv4-mapped IPv6 address
    is judged as the IPv4 address it maps)."""
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        mapped = ip.ipv4_mapped or ip.sixtofour
        if mapped is not None:
            ip = mapped
        elif ip.teredo is not None:
            ip = ip.teredo[1]
    return not (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


def _system_resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class _Deadline:
    """The total time left; at expiry, the current socket is shut down, which ends
    any read blocked on it however slowly the server sends."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds
        self.sock: socket.socket | None = None
        self.lock = threading.Lock()
        self.timer = threading.Timer(seconds, self._expire)
        self.timer.daemon = True
        self.timer.start()

    def left(self) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise TimeoutError
        return left

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self.end

    def watch(self, sock: socket.socket | None) -> None:
        with self.lock:
            self.sock = sock

    def _expire(self) -> None:
        with self.lock:
            if self.sock is not None:
                try:
                    self.sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cancel(self) -> None:
        self.timer.cancel()


def _checked_address(parts: SplitResult, policy: FetchPolicy, shown: str) -> tuple[str, int]:
    """The one address this hop connects to, after the checks."""
    if parts.scheme not in ("http", "https"):
        raise InputError(f"{shown}: only http and https URLs are fetched, not {parts.scheme!r}")
    host = parts.hostname
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise InputError(f"{shown}: bad port") from None
    if not host:
        raise InputError(f"{shown}: no host")
    try:
        addresses = (policy.resolve or _system_resolve)(host, port)
    except (OSError, UnicodeError) as exc:
        raise InputError(f"cannot fetch {shown}: cannot resolve {host!r} ({exc})") from None
    if not addresses:
        raise InputError(f"cannot fetch {shown}: {host!r} has no address")
    for address in addresses:
        if policy.allow_private or (address, port) in policy.trusted or is_public(address):
            return address, port
    what = addresses[0] if addresses[0] == host else f"{host} is {addresses[0]},"
    raise InputError(
        f"refused {shown}: {what} not a public address "
        "(an intranet feed server: set NEWSCLF_ALLOW_PRIVATE_FEEDS=true)"
    )


def _connection(
    parts: SplitResult, address: str, port: int, deadline: _Deadline
) -> http.client.HTTPConnection:
    """A connection to ``address`` (already checked) that speaks to ``parts.hostname``
    (Host header, TLS server name and certificate)."""
    host = parts.hostname or ""
    sock = socket.create_connection((address, port), timeout=deadline.left())
    deadline.watch(sock)
    if parts.scheme == "https":
        context = ssl.create_default_context()
        sock = context.wrap_socket(sock, server_hostname=host)
        deadline.watch(sock)
    conn_class = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    conn = conn_class(host, port, timeout=deadline.left())
    conn.sock = sock  # connect() is never called: the socket above is the checked one
    return conn


def fetch(url: str, policy: FetchPolicy | None = None) -> IO[bytes]:
    """The body of ``url`` in an anonymous temporary file, positioned at 0.

    Raises ``InputError`` (one line, the URL masked) when the URL is refused,
    unreachable, answers an HTTP error, redirects too often, is too large or
    takes longer than the policy's deadline."""
    policy = policy or FetchPolicy()
    deadline = _Deadline(policy.timeout_s)
    body = tempfile.TemporaryFile()
    shown = mask_feed_url(url)
    try:
        _fetch_into(body, url, policy, deadline)
    except InputError:
        body.close()
        raise
    except (OSError, http.client.HTTPException, ValueError, TimeoutError) as exc:
        body.close()
        if deadline.expired:
            raise InputError(
                f"cannot fetch {shown}: took longer than {policy.timeout_s:g} s"
            ) from None
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"cannot fetch {shown}: {why}") from None
    except BaseException:
        body.close()
        raise
    finally:
        deadline.cancel()
    body.seek(0)
    return body


def _fetch_into(body: IO[bytes], url: str, policy: FetchPolicy, deadline: _Deadline) -> None:
    auth: str | None = None
    first = urlsplit(url)
    if first.username is not None:  # credentials go to the first host only, never further
        pair = f"{unquote(first.username)}:{unquote(first.password or '')}".encode()
        auth = "Basic " + base64.b64encode(pair).decode("ascii")
    origin = (first.scheme, first.hostname, first.port)
    for _hop in range(policy.max_redirects + 1):
        parts = urlsplit(url)
        shown = mask_feed_url(url)
        address, port = _checked_address(parts, policy, shown)
        conn = _connection(parts, address, port, deadline)
        try:
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
            if auth and (parts.scheme, parts.hostname, parts.port) == origin:
                headers["Authorization"] = auth
            conn.request("GET", target, headers=headers)
            response = conn.getresponse()
            if response.status in (301, 302, 303, 307, 308):
                location = response.getheader("Location")
                if not location:
                    raise InputError(f"cannot fetch {shown}: redirect without a Location")
                url = urljoin(url, location.strip())
                continue
            if response.status >= 400:
                raise InputError(f"cannot fetch {shown}: HTTP {response.status} {response.reason}")
            _read_body(response, body, policy, shown)
            if deadline.expired:  # the socket was shut at the deadline: the body is cut short
                raise TimeoutError
            return
        finally:
            deadline.watch(None)
            conn.close()
    raise InputError(
        f"cannot fetch {mask_feed_url(url)}: more than {policy.max_redirects} redirects"
    )


def _read_body(response: Any, body: IO[bytes], policy: FetchPolicy, shown: str) -> None:
    length = response.getheader("Content-Length")
    if length and length.isdigit() and int(length) > policy.max_bytes:
        raise InputError(f"{shown}: larger than {policy.max_bytes} bytes")
    while chunk := response.read1(1 << 16):
        if body.tell() + len(chunk) > policy.max_bytes:
            raise InputError(f"{shown}: larger than {policy.max_bytes} bytes")
        body.write(chunk)
