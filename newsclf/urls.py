"""URLs that hold secrets: check the database URL, and mask passwords wherever a URL is shown.

One masking function for every output, log line and stored row::

    mask_url("postgresql+psycopg://app:s3cret@db/news")   # 'postgresql+psycopg://app:***@db/news'
    mask_url("redis://:s3cret@redis:6379/0")               # 'redis://:***@redis:6379/0'
    mask_secrets("cannot reach redis://:s3cret@redis/0")   # URLs inside free text

and one check of the database URL, run by the settings object so that every
command and the worker refuse a bad one with the same line::

    check_database_url("127.0.0.1:5432/db")   # ValueError: not a database URL ... e.g. ...
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
"""What a password is replaced with."""

SECRET_QUERY_KEYS = frozenset(
    {"password", "passwd", "pass", "pwd", "secret", "token", "access_token", "api_key",
     "apikey", "key", "sslpassword", "auth"}
)  # fmt: skip
"""Query parameters whose values are secrets (``?password=...`` in a libpq URL)."""

GOOD_DATABASE_URLS = "postgresql://USER@HOST:5432/DBNAME or sqlite:///newsclf.db"
"""The examples a refused database URL is answered with."""

SUPPORTED_DRIVERS = {
    "postgresql": ("psycopg",),
    "sqlite": ("pysqlite",),
}
"""Backends newsclf runs on, and the drivers the project installs for each."""

# scheme://user:password@  (the password may hold anything but '@' and whitespace;
# a URL whose password holds '@' is matched up to the last '@' before the host)
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^:/@\s]*):[^\s/?#]*@")
_QUERY_SECRET = re.compile(
    r"(?P<key>[?&;](?:" + "|".join(sorted(SECRET_QUERY_KEYS)) + r")=)[^&;#\s]*", re.IGNORECASE
)


def mask_url(url: object) -> str:
    """``url`` with its password (and secret query values) replaced by ``***``.

    Works on any scheme (database, Redis, HTTP) and on things that are not URLs
    (returned unchanged but for anything that looks like a password)."""
    text = str(url)
    try:
        parts = urlsplit(text)
    except ValueError:  # e.g. an invalid IPv6 host: fall back to the text rule
        return mask_secrets(text)
    if not parts.scheme or not parts.netloc:
        return mask_secrets(text)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user, has_password, _ = userinfo.partition(":")
        netloc = f"{user}:{MASK}@{host}" if has_password else f"{userinfo}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(k.lower() in SECRET_QUERY_KEYS for k, _ in pairs):
            query = urlencode(
                [(k, MASK if k.lower() in SECRET_QUERY_KEYS else v) for k, v in pairs], safe="*"
            )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def mask_secrets(text: str) -> str:
    """``text`` (an error message, a log line) with the password of every URL in it masked."""
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    return _QUERY_SECRET.sub(lambda m: f"{m['key']}{MASK}", text)


def check_database_url(url: str) -> str:
    """``url`` if newsclf can use it (a plain ``postgresql://`` becomes psycopg's);
    ValueError with what is wrong and a good example otherwise. Never echoes the
    URL itself (it may hold a password)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise ValueError(
            f"not a database URL (it needs a scheme, e.g. {GOOD_DATABASE_URLS})"
        ) from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "postgres":
        backend = "postgresql"
    if backend not in SUPPORTED_DRIVERS:
        raise ValueError(
            f"unsupported database {backend!r}: newsclf runs on PostgreSQL or SQLite "
            f"(e.g. {GOOD_DATABASE_URLS})"
        )
    drivers = SUPPORTED_DRIVERS[backend]
    if driver and driver not in drivers:
        raise ValueError(
            f"unsupported driver {driver!r} for {backend}: use {backend}:// "
            f"(the {drivers[0]} driver newsclf installs), e.g. {GOOD_DATABASE_URLS}"
        )
    if backend == "postgresql" and not driver:
        return "postgresql+psycopg" + url[len(parsed.drivername) :]
    return url
