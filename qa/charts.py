"""Server-rendered SVG charts for the QA dashboard, and CSV for their numbers. No JavaScript.

Labels, series names and titles are user data (annotator names, categories): every text node and
attribute goes through ``_text``, which escapes markup and drops characters XML cannot hold, so hostile
text renders as text. Each chart is an ``<svg role="img">`` with an ``aria-label`` and a ``<title>``.
"""

from __future__ import annotations

import csv
import html
import io
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

# A calm palette: muted blue first, then neutral and soft accents; flagged bars use the rust tone.
PALETTE = ("#4e79a7", "#a0a7b4", "#e3a857", "#6a9f78", "#9c7fb5", "#c47a6a", "#6fa8bf", "#8c8c6a")
ACCENT = "#c0504d"
TEXT = "#333840"
MUTED = "#6b7280"
GRID = "#e6e8eb"
AXIS = "#9aa1ab"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"

_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_MARGIN = {"left": 46, "right": 14, "top": 34, "bottom": 34}

Number = float | int | None
Formatter = str | Callable[[float], str]


def _text(value: Any) -> str:
    """Escape for XML text and attribute values (quotes included)."""
    return html.escape(_XML_INVALID.sub("", str(value)), quote=True)


def _short(label: Any, limit: int) -> str:
    label = str(label)
    return label if len(label) <= limit else label[: max(limit - 1, 1)] + "\u2026"


def _fmt(value: Number, value_format: Formatter) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return value_format(value) if callable(value_format) else value_format.format(value)


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _is_missing(value: Number) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def _domain(values: Iterable[Number], y_min: float | None, y_max: float | None,
            extra: Iterable[float] = ()) -> tuple[float, float]:
    present = [float(v) for v in values if not _is_missing(v)] + list(extra)
    lo = y_min if y_min is not None else min([0.0, *present])
    hi = y_max if y_max is not None else max([0.0, *present])
    if hi <= lo:
        hi = lo + 1.0
    return lo, hi


def _nice_ticks(lo: float, hi: float, count: int = 4) -> list[float]:
    raw = (hi - lo) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    tick = first
    while tick <= hi + 1e-9:
        ticks.append(round(tick, 10))
        tick += step
    return ticks


class _Frame:
    """Plot area geometry and the shared pieces: frame, grid, y axis, title, legend."""

    def __init__(self, width: int, height: int, lo: float, hi: float, legend: bool,
                 extra_bottom: int = 0) -> None:
        self.width, self.height, self.lo, self.hi = width, height, lo, hi
        self.left = _MARGIN["left"]
        self.right = width - _MARGIN["right"]
        self.top = _MARGIN["top"] + (16 if legend else 0)
        self.bottom = height - _MARGIN["bottom"] - extra_bottom

    def y(self, value: float) -> float:
        value = min(max(value, self.lo), self.hi)
        return self.bottom - (value - self.lo) / (self.hi - self.lo) * (self.bottom - self.top)

    def grid(self, value_format: Formatter) -> list[str]:
        parts = []
        for tick in _nice_ticks(self.lo, self.hi):
            y = self.y(tick)
            parts.append(f'<line x1="{self.left}" x2="{self.right}" y1="{_num(y)}" y2="{_num(y)}" '
                         f'stroke="{GRID}" stroke-width="1"/>')
            parts.append(f'<text x="{self.left - 6}" y="{_num(y + 3.5)}" text-anchor="end" '
                         f'font-size="10" fill="{MUTED}">{_text(_fmt(tick, value_format))}</text>')
        zero = self.y(0.0) if self.lo <= 0 <= self.hi else self.bottom
        parts.append(f'<line x1="{self.left}" x2="{self.right}" y1="{_num(zero)}" y2="{_num(zero)}" '
                     f'stroke="{AXIS}" stroke-width="1"/>')
        return parts

    def legend(self, names: Sequence[Any]) -> list[str]:
        parts, x = [], float(self.left)
        for i, name in enumerate(names):
            label = _short(name, 18)
            parts.append(f'<g><title>{_text(name)}</title>'
                         f'<rect x="{_num(x)}" y="{_MARGIN["top"] - 4}" width="10" height="10" rx="2" '
                         f'fill="{PALETTE[i % len(PALETTE)]}"/>'
                         f'<text x="{_num(x + 14)}" y="{_MARGIN["top"] + 5}" font-size="10" '
                         f'fill="{TEXT}">{_text(label)}</text></g>')
            x += 24 + 6.2 * len(label)
            if x > self.right - 40:
                break
        return parts


def _svg(width: int, height: int, title: str, description: str | None, body: list[str]) -> str:
    label = title if not description else f"{title}. {description}"
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{_text(label)}" '
            f'font-family="{_text(FONT)}">'
            f'<title>{_text(title)}</title>')
    if description:
        head += f"<desc>{_text(description)}</desc>"
    heading = (f'<text x="{_MARGIN["left"]}" y="16" font-size="13" font-weight="600" '
               f'fill="{TEXT}">{_text(_short(title, 80))}</text>')
    return "".join([head, heading, *body, "</svg>"])


_ROTATED_EXTRA = 36  # px of extra bottom margin for slanted labels


def _x_labels(frame: _Frame, centres: Sequence[float], labels: Sequence[Any], slot: float,
              thin: bool = False, rotate: bool = False) -> list[str]:
    """Category labels under the axis: truncated to their slot, slanted, or (``thin``) every k-th one."""
    if rotate:
        parts = []
        for x, label in zip(centres, labels, strict=True):
            y = frame.bottom + 12
            parts.append(f'<text x="{_num(x + 3)}" y="{y}" text-anchor="end" font-size="10" fill="{MUTED}" '
                         f'transform="rotate(-35 {_num(x + 3)} {y})"><title>{_text(label)}</title>'
                         f'{_text(_short(label, 13))}</text>')
        return parts
    if thin:
        limit = 16
        widest = max((len(_short(label, limit)) for label in labels), default=0) * 6 + 10
        every = max(1, math.ceil(widest / max(slot, 1)))
    else:
        limit, every = max(int(slot / 6) - 1, 3), 1
    parts = []
    for i, (x, label) in enumerate(zip(centres, labels, strict=True)):
        if i % every:
            continue
        parts.append(f'<text x="{_num(x)}" y="{frame.bottom + 14}" text-anchor="middle" font-size="10" '
                     f'fill="{MUTED}"><title>{_text(label)}</title>{_text(_short(label, limit))}</text>')
    return parts


def bar_chart(
    labels: Sequence[Any],
    values: Sequence[Number],
    title: str,
    *,
    width: int = 600,
    height: int = 240,
    y_min: float | None = None,
    y_max: float | None = None,
    reference: float | None = None,
    reference_label: str = "",
    highlight: Iterable[int] = (),
    value_format: Formatter = "{:.2f}",
    description: str | None = None,
) -> str:
    """Vertical bars, one per label; ``None`` values show "n/a". Negative values hang below zero.

    ``reference`` draws a dashed line (e.g. the uniform win rate 1/n_slots); bars whose index is in
    ``highlight`` (e.g. flagged annotators) use the accent colour.
    """
    if len(labels) != len(values):
        raise ValueError("labels and values differ in length")
    lo, hi = _domain(values, y_min, y_max, [reference] if reference is not None else [])
    # Slant the labels when the widest one (as far as it would be shown) does not fit its slot.
    widest = max((min(len(str(label)), 13) * 6 + 8 for label in labels), default=0)
    rotate = len(labels) > 0 and (width - _MARGIN["left"] - _MARGIN["right"]) / len(labels) < widest
    frame = _Frame(width, height, lo, hi, legend=False, extra_bottom=_ROTATED_EXTRA if rotate else 0)
    marked = set(highlight)
    body = frame.grid(value_format)
    n = max(len(values), 1)
    slot = (frame.right - frame.left) / n
    bar = min(slot * 0.7, 56)
    centres = [frame.left + slot * (i + 0.5) for i in range(len(values))]
    base = frame.y(0.0) if lo <= 0 <= hi else frame.bottom
    for i, (x, label, value) in enumerate(zip(centres, labels, values, strict=True)):
        shown = _fmt(value, value_format)
        if _is_missing(value):
            body.append(f'<text x="{_num(x)}" y="{_num(base - 4)}" text-anchor="middle" font-size="10" '
                        f'fill="{MUTED}">n/a</text>')
            continue
        top = frame.y(float(value))
        y, h = min(top, base), abs(base - top)
        colour = ACCENT if i in marked else PALETTE[0]
        body.append(f'<g><title>{_text(label)}: {_text(shown)}</title>'
                    f'<rect x="{_num(x - bar / 2)}" y="{_num(y)}" width="{_num(bar)}" height="{_num(h)}" '
                    f'rx="2" fill="{colour}"/></g>')
        if slot >= 28:
            label_y = top - 4 if float(value) >= 0 else top + 12
            body.append(f'<text x="{_num(x)}" y="{_num(label_y)}" text-anchor="middle" font-size="10" '
                        f'fill="{TEXT}">{_text(shown)}</text>')
    if reference is not None:
        y = frame.y(reference)
        body.append(f'<line x1="{frame.left}" x2="{frame.right}" y1="{_num(y)}" y2="{_num(y)}" '
                    f'stroke="{MUTED}" stroke-width="1" stroke-dasharray="4 3"/>')
        if reference_label:
            body.append(f'<text x="{frame.right}" y="{_num(y - 4)}" text-anchor="end" font-size="10" '
                        f'fill="{MUTED}">{_text(reference_label)}</text>')
    body += _x_labels(frame, centres, labels, slot, rotate=rotate)
    return _svg(width, height, title, description, body)


def histogram(
    groups: Mapping[Any, Mapping[int, int] | Sequence[int]],
    title: str,
    *,
    scores: Sequence[int] = (1, 2, 3, 4, 5),
    normalize: bool = False,
    width: int = 600,
    height: int = 240,
    description: str | None = None,
) -> str:
    """Score histogram: for each score, one bar per group (annotator, model...), with a legend.

    ``groups`` maps a group name to counts by score (``{1: 3, 2: 0, ...}``) or a list aligned with
    ``scores``. ``normalize`` shows shares per group, so groups of different size compare fairly.
    """
    names = list(groups)
    table: list[list[float]] = []
    for name in names:
        counts = groups[name]
        row = [float(counts.get(s, 0)) for s in scores] if isinstance(counts, Mapping) else [
            float(c) for c in counts]
        if normalize:
            total = sum(row)
            row = [c / total if total else 0.0 for c in row]
        table.append(row)
    value_format: Formatter = "{:.0%}" if normalize else "{:.0f}"
    flat = [v for row in table for v in row]
    lo, hi = _domain(flat, 0.0, None)
    frame = _Frame(width, height, lo, hi, legend=bool(names))
    body = frame.grid(value_format) + frame.legend(names)
    slot = (frame.right - frame.left) / max(len(scores), 1)
    inner = slot * 0.8 / max(len(names), 1)
    centres = [frame.left + slot * (i + 0.5) for i in range(len(scores))]
    for g, (name, row) in enumerate(zip(names, table, strict=True)):
        colour = PALETTE[g % len(PALETTE)]
        for centre, score, value in zip(centres, scores, row, strict=False):
            x = centre - slot * 0.4 + g * inner
            top = frame.y(value)
            tip = f"{_text(name)}, score {_text(score)}: {_text(_fmt(value, value_format))}"
            body.append(f'<g><title>{tip}</title><rect x="{_num(x + 0.5)}" y="{_num(top)}" '
                        f'width="{_num(max(inner - 1, 1))}" height="{_num(frame.bottom - top)}" '
                        f'fill="{colour}"/></g>')
    body += _x_labels(frame, centres, list(scores), slot)
    return _svg(width, height, title, description, body)


def line_chart(
    dates: Sequence[Any],
    series: Mapping[Any, Sequence[Number]],
    title: str,
    *,
    y_min: float | None = None,
    y_max: float | None = None,
    value_format: Formatter = "{:.2f}",
    width: int = 600,
    height: int = 240,
    description: str | None = None,
) -> str:
    """One line per series over evenly spaced periods; ``None`` leaves a gap, lone points are dots."""
    names = list(series)
    for name in names:
        if len(series[name]) != len(dates):
            raise ValueError(f"series {name!r} and dates differ in length")
    lo, hi = _domain([v for name in names for v in series[name]], y_min, y_max)
    frame = _Frame(width, height, lo, hi, legend=bool(names))
    body = frame.grid(value_format) + frame.legend(names)
    n = len(dates)
    step = (frame.right - frame.left - 48) / max(n - 1, 1)
    xs = [frame.left + 24 + step * i for i in range(n)] if n > 1 else [(frame.left + frame.right) / 2] * n
    labels = [d.isoformat() if isinstance(d, date | datetime) else d for d in dates]
    for g, name in enumerate(names):
        colour = PALETTE[g % len(PALETTE)]
        runs: list[list[tuple[float, float]]] = [[]]
        for x, value in zip(xs, series[name], strict=True):
            if _is_missing(value):
                runs.append([])
            else:
                runs[-1].append((x, frame.y(float(value))))
        for run in runs:
            if len(run) > 1:
                points = " ".join(f"{_num(x)},{_num(y)}" for x, y in run)
                body.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2" '
                            f'stroke-linejoin="round"/>')
        for x, label, value in zip(xs, labels, series[name], strict=True):
            if not _is_missing(value):
                body.append(f'<circle cx="{_num(x)}" cy="{_num(frame.y(float(value)))}" r="2.5" '
                            f'fill="{colour}"><title>{_text(name)}, {_text(label)}: '
                            f'{_text(_fmt(value, value_format))}</title></circle>')
    body += _x_labels(frame, xs, labels, step if n > 1 else frame.right - frame.left, thin=True)
    return _svg(width, height, title, description, body)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "" if not math.isfinite(value) else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    text = str(value)
    # Names typed by users must not run as spreadsheet formulas when the CSV is opened.
    return "'" + text if text.startswith(_FORMULA_START) else text


def to_csv(header: Sequence[Any], rows: Iterable[Sequence[Any]]) -> str:
    """CSV text (RFC 4180, CRLF) with the chart's numbers at full precision; None becomes empty."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([_csv_cell(h) for h in header])
    for row in rows:
        writer.writerow([_csv_cell(v) for v in row])
    return buffer.getvalue()
