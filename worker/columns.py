"""Which column (CSV) or field (JSONL) of a feed holds what: the aliases, and the
user's ``--column FIELD=HEADER`` mapping::

    mapping = parse_column_mapping(["text=story", "title=heading", "url=meta.link"])
    value = pick(fields, "text", mapping)

Without a mapping each field is the first of its aliases present (names compared
case-insensitively, spaces around them ignored). A mapped field is read from the
named column only; in JSONL a dotted name that is not a key is a path into nested
objects (``meta.link`` is ``{"meta": {"link": ...}}``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from newsclf.errors import InputError

ALIASES: dict[str, tuple[str, ...]] = {
    "text": ("text", "content", "body", "article", "summary", "description"),
    "id": ("external_id", "id", "guid"),
    "title": ("title", "headline"),
    "url": ("url", "link"),
    "published": ("published_at", "published", "date", "pubdate"),
    "source": ("source",),
}
"""Each field and its accepted column names, in order of preference."""

FIELDS = tuple(ALIASES)
"""The fields ``--column`` may map."""

LABEL_COLUMNS = ("category", "label")
"""Columns of labeled data: not used (newsclf predicts labels), noted once."""

KNOWN = frozenset(name for names in ALIASES.values() for name in names)


def parse_column_mapping(pairs: Iterable[str]) -> dict[str, str]:
    """``["text=story", ...]`` as ``{"text": "story"}`` (header lower-cased);
    an unknown field, a missing ``=`` or a field given twice is one ``InputError``."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        field, sep, header = pair.partition("=")
        field, header = field.strip().lower(), header.strip().lower()
        if not sep or not header:
            raise InputError(f"--column {pair!r}: write FIELD=HEADER, e.g. --column text=story")
        if field not in ALIASES:
            raise InputError(
                f"--column {pair!r}: unknown field {field!r}; use one of {', '.join(FIELDS)}"
            )
        if field in mapping:
            raise InputError(f"--column {field}= is given twice")
        mapping[field] = header
    return mapping


def names_for(field: str, mapping: Mapping[str, str]) -> tuple[str, ...]:
    """The column names ``field`` is read from: the mapped one, else its aliases."""
    return (mapping[field],) if field in mapping else ALIASES[field]


def dig(obj: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    """``(found, value)`` of a dotted ``path`` into nested objects (keys compared
    case-insensitively); a key that contains the dots itself is tried first."""
    if path in obj:
        return True, obj[path]
    value: Any = obj
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return False, None
        match = next((k for k in value if str(k).strip().lower() == part), None)
        if match is None:
            return False, None
        value = value[match]
    return True, value


def pick(fields: Mapping[str, Any], field: str, mapping: Mapping[str, str]) -> Any:
    """The value of ``field`` in a row (None: absent)."""
    for name in names_for(field, mapping):
        found, value = dig(fields, name) if field in mapping else (name in fields, fields.get(name))
        if found:
            return value
    return None


def used_names(mapping: Mapping[str, str]) -> frozenset[str]:
    """Every column name that some field is read from (the rest are "unknown")."""
    names = {name for field in ALIASES for name in names_for(field, mapping)}
    return frozenset(names | {path.split(".")[0] for path in mapping.values()})
