"""What every file import (prompts, responses) checks the same way, for the CLI and the API alike.

Imports are all or nothing and name every bad line. Files come from outside (red-teaming data included), so
values are checked, never coerced: a string field takes a JSON string (not an object, number or boolean), an
id takes an integer (not ``true``), text has no NUL or other control characters (PostgreSQL refuses NUL
where SQLite stores it, so both would differ), and sizes are bounded (``STUDIO_IMPORT_MAX_TEXT_CHARS``,
``STUDIO_IMPORT_MAX_FILE_BYTES``). Encoding errors are reported on the line that holds the bad bytes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

# C0 controls but tab, newline and carriage return; DEL and the C1 controls. Text may hold any other Unicode.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


class Problem(str):
    """A reason a line is refused (a str, so reports stay plain lists of (line, reason))."""


def decoded_lines(data: bytes) -> Iterator[tuple[int, str | Problem]]:
    """(line number, text or Problem) for every physical line, decoding each line on its own so an encoding
    error names its own line. A UTF-8 byte-order mark at the start is dropped; blank lines are kept (callers
    skip them) so numbers match what an editor shows."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        try:
            yield number, raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield number, Problem(
                _("not UTF-8 (byte %(pos)s of the line: %(reason)s)") % {"pos": exc.start + 1, "reason": exc.reason}
            )


def file_problem(data: bytes) -> Problem | None:
    """Whole-file refusals: too large, or nothing but blank lines."""
    limit = settings.STUDIO_IMPORT_MAX_FILE_BYTES
    if len(data) > limit:
        return Problem(_("the file is larger than %(limit)s bytes") % {"limit": limit})
    if not data.replace(b"\xef\xbb\xbf", b"", 1).strip():
        return Problem(_("the file is empty"))
    return None


def text_field(
    row: dict[str, Any], name: str, problems: list[str], *, required: bool = True, max_chars: int | None = None
) -> str:
    """A string field, stripped. Appends a reason to `problems` (and returns "") when it is not acceptable."""
    value = row.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            problems.append(_("%(field)s is empty") % {"field": name})
        return ""
    if not isinstance(value, str):
        problems.append(
            _('"%(field)s" must be a string, not %(type)s') % {"field": name, "type": _json_type(value)}
        )
        return ""
    limit = max_chars or settings.STUDIO_IMPORT_MAX_TEXT_CHARS
    if len(value) > limit:
        problems.append(
            _('"%(field)s" has %(n)s characters (at most %(limit)s)') % {"field": name, "n": len(value), "limit": limit}
        )
        return ""
    bad = _CONTROL.search(value)
    if bad:
        problems.append(
            _('"%(field)s" contains a control character (U+%(code)04X at position %(pos)s)')
            % {"field": name, "code": ord(bad.group()), "pos": bad.start() + 1}
        )
        return ""
    return value.strip()


def int_field(
    row: dict[str, Any], name: str, problems: list[str], *, minimum: int = 0, maximum: int | None = None
) -> int | None:
    """An optional integer field: JSON integers only (``true`` is not 1, ``"3"`` is not 3)."""
    value = row.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        problems.append(_('"%(field)s" must be an integer, not %(type)s') % {"field": name, "type": _json_type(value)})
        return None
    if value < minimum or (maximum is not None and value > maximum):
        upper = "" if maximum is None else f"..{maximum}"
        problems.append(_('"%(field)s" must be in %(range)s') % {"field": name, "range": f"{minimum}{upper}"})
        return None
    return value


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return _("a boolean")
    if isinstance(value, int | float):
        return _("a number")
    if isinstance(value, dict):
        return _("an object")
    if isinstance(value, list):
        return _("a list")
    if isinstance(value, str):
        return _("a string")
    return type(value).__name__
