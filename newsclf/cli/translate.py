"""Translate exceptions from the libraries underneath into one-line user errors."""

from __future__ import annotations

from typing import Any

from newsclf.errors import NewsclfError, ServiceUnavailable


def translate(exc: BaseException) -> NewsclfError | None:
    """The user-facing error for ``exc``, or None when it is a bug (keep the traceback)."""
    if isinstance(exc, NewsclfError):
        return exc
    if type(exc).__name__ == "ValidationError" and hasattr(exc, "errors"):  # pydantic: settings
        return _settings_error(exc)
    if isinstance(exc, (FileNotFoundError, IsADirectoryError, PermissionError)):
        from newsclf.errors import InputError

        return InputError(f"{exc.strerror}: {exc.filename}")
    try:
        import sqlalchemy.exc
    except ImportError:  # pragma: no cover
        sqlalchemy = None  # type: ignore[assignment]
    else:
        if isinstance(exc, sqlalchemy.exc.OperationalError):
            first = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            return ServiceUnavailable(
                f"database unreachable ({first}); check NEWSCLF_DATABASE_URL and that the server runs"
            )
    try:
        import kombu.exceptions
        import redis.exceptions
    except ImportError:  # pragma: no cover
        return None
    if isinstance(exc, (redis.exceptions.ConnectionError, kombu.exceptions.OperationalError)):
        return ServiceUnavailable(
            f"broker unreachable ({str(exc).splitlines()[0]}); check NEWSCLF_BROKER_URL and that Redis runs"
        )
    return None


def _settings_error(exc: Any) -> NewsclfError:
    """A setting the environment gives that cannot be used: one line naming the
    variable and what is wrong, never its value (a URL may hold a password)."""
    from newsclf.errors import InputError

    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        name = "NEWSCLF_" + "_".join(str(part) for part in error["loc"]).upper()
        problems.append(f"{name}: {error['msg'].removeprefix('Value error, ')}")
    return InputError("; ".join(problems) or "invalid settings")
