"""Errors a user can cause. The CLI prints them as one line and exits non-zero."""

from __future__ import annotations

NO_TABLES = "the database has no newsclf tables yet: run `newsclf db upgrade` first"
"""What the CLI and a starting worker say on a database that was never migrated."""


class NewsclfError(Exception):
    """Base of every error the CLI reports as one line (message, then the fix)."""

    exit_code = 1


class InputError(NewsclfError):
    """A file or argument the user gave cannot be used."""

    exit_code = 2


class ArtifactError(NewsclfError):
    """A model artifact is missing, incomplete or tampered with."""


class NoModelError(NewsclfError):
    """No model is registered or active yet."""


class ServiceUnavailable(NewsclfError):
    """PostgreSQL or Redis cannot be reached."""

    exit_code = 3
