"""A feed URL is fetched from public addresses only, within a total deadline and a
size cap, and is never stored or shown with its credentials or query string.

Loopback HTTP servers play both sides: the "public" feed host (trusted by the
policy, as a test hook) and an internal service that must never be reached."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from newsclf.errors import InputError
from newsclf.worker.fetch import FetchPolicy, fetch, is_public, mask_feed_url
from newsclf.worker.ingest import FeedRow, read_feed

RSS = """<?xml version="1.0"?><rss version="2.0"><channel><title>F</title>
<item><title>Internal page</title><description>secret payroll figures</description></item>
</channel></rss>"""


class Server:
    """A loopback HTTP server answering from ``routes``; it records the paths asked."""

    def __init__(self, routes: dict[str, Any]) -> None:
        self.requests: list[str] = []
        self.authorizations: list[str | None] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                owner.requests.append(self.path)
                owner.authorizations.append(self.headers.get("Authorization"))
                route = routes.get(self.path.split("?")[0])
                if route is None:
                    self.send_error(404)
                else:
                    route(self)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def body(data: str) -> Any:
    def send(handler: http.server.BaseHTTPRequestHandler) -> None:
        raw = data.encode()
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(raw)))
        handler.end_headers()
        handler.wfile.write(raw)

    return send


def redirect(location: str) -> Any:
    def send(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.send_response(302)
        handler.send_header("Location", location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return send


def trickle(handler: http.server.BaseHTTPRequestHandler) -> None:
    raw = ("text\n" + "x" * 200 + "\n").encode()
    handler.send_response(200)
    handler.send_header("Content-Length", str(len(raw)))
    handler.end_headers()
    try:
        for byte in raw:
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
            time.sleep(0.05)
    except OSError:
        pass


@pytest.fixture
def internal() -> Iterator[Server]:
    server = Server({"/secret.rss": body(RSS)})
    yield server
    server.close()


@pytest.fixture
def public(internal: Server) -> Iterator[Server]:
    """The feed host the user named; its routes redirect where a hostile server would."""
    routes: dict[str, Any] = {
        "/feed.csv": body("text\na public article\n"),
        "/to-internal": redirect(f"{internal.url}/secret.rss"),
        "/to-ten": redirect("http://10.1.2.3/secret.rss"),
        "/to-192": redirect("http://192.168.1.1/secret.rss"),
        "/to-link-local": redirect("http://169.254.169.254/latest/meta-data/"),
        "/to-decimal": redirect(f"http://2130706433:{internal.port}/secret.rss"),
        "/to-mapped": redirect(f"http://[::ffff:127.0.0.1]:{internal.port}/secret.rss"),
        "/to-file": redirect("file:///etc/passwd"),
        "/to-ftp": redirect("ftp://example.org/feed.rss"),
        "/loop": redirect("/loop"),
        "/trickle": trickle,
    }
    server = Server(routes)
    yield server
    server.close()


def policy(public: Server, **kwargs: Any) -> FetchPolicy:
    return FetchPolicy(trusted=frozenset({("127.0.0.1", public.port)}), **kwargs)


def test_the_public_host_itself_is_fetched(public: Server) -> None:
    with fetch(f"{public.url}/feed.csv", policy(public)) as f:
        assert f.read() == b"text\na public article\n"


@pytest.mark.parametrize(
    "path", ["/to-internal", "/to-ten", "/to-192", "/to-link-local", "/to-decimal", "/to-mapped"]
)
def test_a_redirect_to_a_non_public_address_is_refused_before_connecting(
    public: Server, internal: Server, path: str
) -> None:
    with pytest.raises(InputError, match="not a public address") as info:
        fetch(f"{public.url}{path}", policy(public, timeout_s=5))
    assert "\n" not in str(info.value)
    assert internal.requests == []


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "2130706433", "0x7f000001", "127.1", "[::ffff:127.0.0.1]", "[::1]"]
)
def test_every_written_form_of_a_loopback_address_is_refused(internal: Server, host: str) -> None:
    with pytest.raises(InputError, match="not a public address"):
        fetch(f"http://{host}:{internal.port}/secret.rss", FetchPolicy(timeout_s=5))
    assert internal.requests == []


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/feed.rss"])
def test_only_http_and_https_are_fetched(url: str) -> None:
    with pytest.raises(InputError, match="only http and https"):
        read_feed(url, max_text_chars=1000)


@pytest.mark.parametrize("path", ["/to-file", "/to-ftp"])
def test_a_redirect_to_another_scheme_is_refused(public: Server, path: str) -> None:
    with pytest.raises(InputError, match="only http and https"):
        fetch(f"{public.url}{path}", policy(public))


def test_the_allow_setting_lets_an_intranet_feed_through(public: Server, internal: Server) -> None:
    items = list(
        read_feed(
            f"{public.url}/to-internal",
            max_text_chars=1000,
            fetch_policy=policy(public, allow_private=True),
        )
    )
    assert [i.title for i in items if isinstance(i, FeedRow)] == ["Internal page"]


def test_redirects_are_bounded(public: Server) -> None:
    with pytest.raises(InputError, match="more than 3 redirects"):
        fetch(f"{public.url}/loop", policy(public, max_redirects=3))


def test_a_trickled_body_is_cut_off_at_the_total_deadline(public: Server) -> None:
    # The whole body would take 10 s (205 bytes, one per 0.05 s); each byte alone is quick.
    with pytest.raises(InputError, match="took longer than 1 s"):
        fetch(f"{public.url}/trickle", policy(public, timeout_s=1))


def test_a_body_over_the_size_cap_is_refused(public: Server) -> None:
    with pytest.raises(InputError, match="larger than 10 bytes"):
        fetch(f"{public.url}/feed.csv", policy(public, max_bytes=10))


def test_urls_are_shown_without_credentials_or_query() -> None:
    shown = mask_feed_url("https://reader:hunter2@feeds.example/rss?api_key=SECRET&x=1#top")
    assert shown == "https://***@feeds.example/rss?***"


def test_addresses_are_judged_by_what_they_are() -> None:
    assert is_public("93.184.216.34") and is_public("2606:2800:220:1:248:1893:25c8:1946")
    for address in ("127.0.0.1", "10.0.0.1", "172.16.0.1", "192.168.0.1", "169.254.169.254",
                    "100.64.0.1", "0.0.0.0", "224.0.0.1", "240.0.0.1", "::1", "fe80::1",
                    "fc00::1", "::ffff:10.0.0.1", "2002:7f00:1::1", "::"):  # fmt: skip
        assert not is_public(address), address


def test_an_api_key_in_a_feed_url_is_never_stored_or_reported(
    public: Server, sqlite_url: str, tiny_artifact: Path
) -> None:
    from sqlalchemy import select

    from newsclf.schema.db import make_engine, session_factory, upgrade
    from newsclf.schema.models import Article, Job
    from newsclf.schema.registry import register_artifact
    from newsclf.settings import Settings
    from newsclf.trainer.blobs import artifact_record
    from newsclf.worker.enqueue import enqueue_feeds

    upgrade(sqlite_url)
    sessions = session_factory(make_engine(sqlite_url))
    with sessions.begin() as session:
        register_artifact(session, artifact_record(tiny_artifact))

    class Publisher:
        def publish(self, ids: Any) -> None:
            pass

    settings = Settings(database_url=sqlite_url, allow_private_feeds=True)
    url = f"http://reader:hunter2@127.0.0.1:{public.port}/feed.csv?api_key=SECRET"
    bad = f"http://127.0.0.1:{public.port}/missing?api_key=SECRET"
    report = enqueue_feeds([url], sessions=sessions, publisher=Publisher(), settings=settings)
    with pytest.raises(InputError) as info:
        enqueue_feeds([bad], sessions=sessions, publisher=Publisher(), settings=settings)
    with sessions() as session:
        stored = [*session.scalars(select(Job.source)), *session.scalars(select(Article.source))]
    everything = repr((stored, report.as_dict(), str(info.value)))
    assert stored and "SECRET" not in everything and "hunter2" not in everything
    assert report.source == f"http://***@127.0.0.1:{public.port}/feed.csv?***"


@pytest.fixture
def https_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    """A loopback HTTPS server with a certificate for ``localhost`` that this test trusts."""
    import shutil
    import ssl
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost"],
        check=True, capture_output=True,
    )  # fmt: skip
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the default context trusts it
    server = Server({"/feed.csv": body("text\nover tls\n")})
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.server.socket = context.wrap_socket(server.server.socket, server_side=True)
    yield server
    server.close()


def test_https_is_fetched_from_the_checked_address_with_the_certificate_verified(
    https_server: Server,
) -> None:
    trusted = policy(https_server, timeout_s=5)
    with fetch(f"https://localhost:{https_server.port}/feed.csv", trusted) as f:
        assert f.read() == b"text\nover tls\n"
    # The certificate names localhost, not 127.0.0.1: verification is on.
    with pytest.raises(InputError, match="cannot fetch"):
        fetch(f"https://127.0.0.1:{https_server.port}/feed.csv", trusted)


def test_credentials_in_the_url_go_to_that_host_only(public: Server, internal: Server) -> None:
    import base64

    url = f"http://reader:p%40ss@127.0.0.1:{public.port}/to-internal"
    with fetch(url, policy(public, allow_private=True)) as f:
        assert b"Internal page" in f.read()
    assert public.authorizations == ["Basic " + base64.b64encode(b"reader:p@ss").decode()]
    assert internal.authorizations == [None]  # the redirect's host never sees them
