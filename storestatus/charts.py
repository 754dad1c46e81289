"""Small charts as inline SVG strings for the server-rendered dashboard (issue #12).

No JavaScript, no CDN and no chart library: a page stays one HTML response that works with
scripts off and prints as it looks. Every chart is an ``<svg role="img">`` labelled by its own
``<title>`` and ``<desc>``, and the desc carries the numbers drawn, so a screen reader gets the
facts a sighted reader gets. The visible heading is the page's job, not the chart's.

Text from outside (store ids, row labels, state names) reaches the markup only through
``_text`` and ``_attr``, so a hostile store id cannot leave its text node or attribute. The
output depends on the arguments alone (no clock, no randomness, no set order): the same data
gives the same bytes, which keeps pages cacheable and the tests exact.

Sizes are in viewBox units and the ``<svg>`` has ``width="100%"`` and no height, so the chart
fills its column and keeps its aspect ratio. Text scales with it, so ``WIDTH`` is small (480):
12-unit text is still 9 px in the 360 px column of a 400 px phone. On a 1280 px screen the
page should cap the charts (``svg.chart { max-width: 45rem }``) or the text grows past 20 px.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from itertools import pairwise
from types import MappingProxyType
from typing import Final
from urllib.parse import urlsplit
from xml.sax.saxutils import escape, quoteattr

WIDTH: Final = 480
FONT_SIZE: Final = 14
SMALL_FONT_SIZE: Final = 12
FONT_FAMILY: Final = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"

TEXT_COLOUR: Final = "#222222"
MUTED_COLOUR: Final = "#666666"
GRID_COLOUR: Final = "#dddddd"
CELL_BORDER_COLOUR: Final = "#bdbdbd"
HATCH_COLOUR: Final = "#555555"
BAR_COLOUR: Final = "#3b6ea5"
RANGE_DASH: Final = "\u2013"  # en dash, as ranges are typeset: "0\u201310", "14:00\u201315:00"

# Lightness (CIE L*) 64, 38, 87 and 100: the states stay apart in greyscale and for red-green
# colour blindness, where hue alone would not. "unknown" is also hatched (``timeline(hatched=)``)
# and "closed" is told from a blank hour (outside the window) by its border.
STATE_COLOURS: Final[Mapping[str, str]] = MappingProxyType(
    {"up": "#5aae61", "down": "#b2182b", "unknown": "#d9d9d9", "closed": "#ffffff"}
)  # read-only: one page must not recolour another's charts

_CHAR_WIDTH: Final = 0.6  # average glyph advance in em for a sans-serif font: a layout estimate
# A label's room is sized for its widest glyphs: digits are 0.64 em in DejaVu Sans (Debian's
# default), and store ids are mostly digits; at 0.6 em a 19-digit id ran off the left edge.
_LABEL_CHAR_WIDTH: Final = 0.66
_MAX_LABEL_CHARS: Final = 24  # longer labels are cut with "…"; the full text is in the tooltip
_HOURS: Final = 24
_CHART_ID_RE: Final = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
# Characters XML 1.0 forbids (C0 controls, lone surrogates, U+FFFE/U+FFFF): one of them in a
# store id would make the whole page unparsable as XHTML and the SVG invalid.
_NOT_XML_RE: Final = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SAFE_SCHEMES: Final = frozenset({"", "http", "https"})


# --- public charts -----------------------------------------------------------------------------


def histogram(
    counts: Sequence[int],
    edges: Sequence[float],
    *,
    title: str,
    x_label: str,
    y_label: str,
    chart_id: str,
    colour: str = BAR_COLOUR,
) -> str:
    """A vertical bar per bin, its count above it, as an inline SVG string.

    Empty or all-zero ``counts`` still give a chart (axes, bin labels) that says "no data", so
    a page keeps its layout on a quiet day.

    Parameters
    ----------
    counts
        Count per bin (``overview.report_overview`` counts uptimes); may be empty.
    edges
        ``len(counts) + 1`` finite, strictly increasing edges (none or one if ``counts`` is empty).
    title
        The chart's accessible name (``<title>``).
    x_label, y_label
        Axis captions, also used in the text equivalent.
    chart_id
        Unique on the page: prefixes the ids ``aria-labelledby`` points at.
    colour
        CSS colour of the bars.

    Returns
    -------
    str
        One ``<svg>`` element.

    Raises
    ------
    ValueError
        A bad ``chart_id``, a negative count, or edges that do not fit the counts.
    """
    _check_chart_id(chart_id)
    if len(edges) != len(counts) + 1 and (counts or len(edges) > 1):
        raise ValueError(f"{len(counts)} counts need {len(counts) + 1} edges, got {len(edges)}")
    _check_edges(edges, allow_empty=not counts)
    if any(count < 0 for count in counts):
        raise ValueError("counts cannot be negative")

    bin_labels = [f"{_edge(lo)}{RANGE_DASH}{_edge(hi)}" for lo, hi in pairwise(edges)]
    total = sum(counts)
    if total == 0:
        span = f" in every bin from {_edge(edges[0])} to {_edge(edges[-1])}" if counts else ""
        desc = f"No data: 0 {y_label}{span}."
    else:
        per_bin = ", ".join(
            f"{label}: {count}" for label, count in zip(bin_labels, counts, strict=True)
        )
        desc = f"{y_label} by {x_label}: {per_bin} (total {total})."

    tick_step, ticks = _ticks(max(counts, default=0))
    scale_top = tick_step * ticks
    # The y caption sits above the axis, horizontal: rotated text is slow to read.
    left = max(len(str(scale_top)) * SMALL_FONT_SIZE * _CHAR_WIDTH + 12, 28.0)
    right, top, plot_height = 12.0, 44.0, 220.0
    bottom = top + plot_height
    plot_width = WIDTH - left - right
    bin_width = plot_width / max(len(counts), 1)
    # Crowded bin labels go on two staggered lines before any is dropped: "90-100" needs more
    # than the 42 units ten bins get.
    step = _label_step([len(label) for label in bin_labels], bin_width)
    label_every = 1 if step <= 2 else math.ceil(step / 2)
    label_lines = 1 if step == 1 else 2
    height = bottom + 40 + 16 * label_lines
    parts = [_text_element(y_label, x=4, y=16, anchor="start", css_class="y-label")]
    for tick in range(0, scale_top + 1, tick_step):
        y = bottom - plot_height * tick / scale_top
        if tick:
            parts.append(_line(left, y, WIDTH - right, y, GRID_COLOUR))
        parts.append(
            _text_element(
                str(tick), x=left - 6, y=y, anchor="end", size=SMALL_FONT_SIZE, middle=True
            )
        )
    parts.append(_line(left, bottom, WIDTH - right, bottom, MUTED_COLOUR))

    gap = min(4.0, bin_width * 0.2)
    for index, (label, count) in enumerate(zip(bin_labels, counts, strict=True)):
        centre = left + (index + 0.5) * bin_width
        if count:
            bar_height = plot_height * count / scale_top
            box = {
                "x": centre - (bin_width - gap) / 2,
                "y": bottom - bar_height,
                "width": bin_width - gap,
                "height": bar_height,
            }
            tooltip = _element("title", {}, _text(f"{label}: {count}"))
            parts.append(_element("rect", {"class": "bar", **box, "fill": colour}, tooltip))
            parts.append(
                _text_element(
                    str(count),
                    x=centre,
                    y=box["y"] - 5,
                    anchor="middle",
                    size=SMALL_FONT_SIZE,
                    css_class="count",
                )
            )
        if index % label_every == 0:
            parts.append(
                _text_element(
                    label,
                    x=centre,
                    y=bottom + 18 + 16 * (index // label_every % label_lines),
                    anchor="middle",
                    size=SMALL_FONT_SIZE,
                    css_class="bin",
                )
            )
    if total == 0:
        parts.append(_no_data(left + plot_width / 2, top + plot_height / 2))
    parts.append(
        _text_element(
            x_label, x=left + plot_width / 2, y=height - 10, anchor="middle", css_class="x-label"
        )
    )
    return _svg(chart_id, title, desc, height, parts)


def timeline(
    rows: Sequence[tuple[str, Sequence[str | None]]],
    *,
    states: Mapping[str, str],
    title: str,
    chart_id: str,
    hour_labels: Sequence[int] = (0, 6, 12, 18, 24),
    hatched: Collection[str] = ("unknown",),
) -> str:
    """A day-by-hour grid of states, as an inline SVG string: when a store was up or down.

    One row per day and 24 cells per row, one per local hour. A DST day has 23 or 25 local
    hours; the caller decides which wall-clock slot each one fills, since only it knows the
    report's rule. Each cell has a tooltip such as "Mon 2023-01-23 14:00-15:00: down" (with
    an en dash); a legend with the hours per state follows the grid, and the desc repeats
    those totals.

    Parameters
    ----------
    rows
        ``(label, cells)`` per day, e.g. ``("Mon 2023-01-23", ["closed", ..., "up", ...])``.
        A cell is a key of ``states``, or None for an hour outside the window (left blank).
    states
        State name to CSS colour, in legend order, e.g. ``STATE_COLOURS``.
    title
        The chart's accessible name (``<title>``).
    chart_id
        Unique on the page: prefixes the ids ``aria-labelledby`` and the hatch pattern use.
    hour_labels
        Hour boundaries (0 to 24) to label along the top.
    hatched
        States drawn with diagonal hatching over their colour, so they read without colour.

    Returns
    -------
    str
        One ``<svg>`` element.

    Raises
    ------
    ValueError
        A bad ``chart_id``, a row without 24 cells, a state missing from ``states``, or an
        hour label outside 0 to 24.
    """
    _check_chart_id(chart_id)
    if any(not 0 <= hour <= _HOURS for hour in hour_labels):
        raise ValueError(f"hour labels must be within 0 to 24, got {list(hour_labels)}")
    hours, blank = _count_hours(rows, states)
    desc = _timeline_desc([label for label, _ in rows], hours, blank)

    label_chars = min(max((len(label) for label, _ in rows), default=0), _MAX_LABEL_CHARS)
    left = max(label_chars * FONT_SIZE * _CHAR_WIDTH + 12, 24.0)  # room for "00:00" at least
    right, top, cell_height, row_pitch = 20.0, 26.0, 20.0, 22.0
    cell_width = (WIDTH - left - right) / _HOURS
    hatch_id = f"{chart_id}-hatch"

    parts: list[str] = []
    if any(state in hatched for state in states):
        parts.append(_hatch_pattern(hatch_id))
    for hour in hour_labels:
        x = left + hour * cell_width
        parts.append(_line(x, top - 6, x, top, MUTED_COLOUR))
        parts.append(
            _text_element(
                f"{hour:02d}:00",
                x=x,
                y=top - 10,
                anchor="middle",
                size=SMALL_FONT_SIZE,
                css_class="hour",
            )
        )
    for row_index, (label, cells) in enumerate(rows):
        y = top + row_index * row_pitch
        parts.append(
            _text_element(
                _shorten(label),
                x=left - 8,
                y=y + cell_height / 2,
                anchor="end",
                middle=True,
                css_class="day",
            )
        )
        for hour, state in enumerate(cells):
            if state is None:
                continue
            x = left + hour * cell_width
            tooltip = f"{label} {hour:02d}:00{RANGE_DASH}{hour + 1:02d}:00: {state}"
            box = {"x": x, "y": y, "width": cell_width, "height": cell_height}
            parts.append(_swatch("cell", box, states[state], tooltip))
            if state in hatched:
                parts.append(_hatch(hatch_id, box))
    if not rows:
        parts.append(_no_data(WIDTH / 2, top + cell_height / 2 + 5))

    x, y = left, top + max(len(rows), 1) * row_pitch + 14
    for state, colour in states.items():
        caption = f"{state} ({hours[state]} h)"
        item_width = 20 + len(caption) * SMALL_FONT_SIZE * _CHAR_WIDTH + 18
        if x + item_width > WIDTH - right and x > left:
            x, y = left, y + 22  # wrap the legend rather than run off the right edge
        box = {"x": x, "y": y, "width": 14, "height": 14}
        parts.append(_swatch("swatch", box, colour))
        if state in hatched:
            parts.append(_hatch(hatch_id, box))
        parts.append(
            _text_element(
                caption,
                x=x + 20,
                y=y + 7,
                anchor="start",
                size=SMALL_FONT_SIZE,
                middle=True,
                css_class="legend",
            )
        )
        x += item_width
    return _svg(chart_id, title, desc, y + 14 + 10, parts)


def _count_hours(
    rows: Sequence[tuple[str, Sequence[str | None]]], states: Mapping[str, str]
) -> tuple[dict[str, int], int]:
    """Hours per state (every key of ``states``, in its order) and blank hours, rows checked."""
    hours = dict.fromkeys(states, 0)
    blank = 0
    for label, cells in rows:
        if len(cells) != _HOURS:
            raise ValueError(f"row {label!r} has {len(cells)} cells, not {_HOURS}")
        for cell in cells:
            if cell is None:
                blank += 1
            elif cell in hours:
                hours[cell] += 1
            else:
                raise ValueError(f"row {label!r}: state {cell!r} has no colour in `states`")
    return hours, blank


def _timeline_desc(labels: Sequence[str], hours: Mapping[str, int], blank: int) -> str:
    """The text equivalent of a timeline: which days, and the hours per state."""
    if not labels:
        return "No data: no days to show."
    per_state = ", ".join(f"{state} {count} h" for state, count in hours.items())
    outside = f"; {blank} h outside the window" if blank else ""
    span = labels[0] if len(labels) == 1 else f"{labels[0]} to {labels[-1]}"
    days = "1 day" if len(labels) == 1 else f"{len(labels)} days"
    return f"Hours per state over {days} ({span}): {per_state}{outside}."


def bars(
    items: Sequence[tuple[str, float]],
    *,
    title: str,
    unit: str,
    chart_id: str,
    href: Callable[[str], str] | None = None,
    colour: str = BAR_COLOUR,
    decimals: int = 1,
) -> str:
    """Horizontal bars from zero, labelled on the left, value at the end, as an inline SVG string.

    Made for rankings such as the 20 stores with the most downtime last week. Items are drawn
    in the order given (the caller ranks them). With ``href`` each row (label, bar, value) is
    one link, e.g. to the store's page.

    Parameters
    ----------
    items
        ``(label, value)`` pairs; values finite and not negative.
    title
        The chart's accessible name (``<title>``).
    unit
        Printed after each value, e.g. ``"h"``.
    chart_id
        Unique on the page: prefixes the ids ``aria-labelledby`` points at.
    href
        Builds a row's link from its label. Percent-encode the label in it
        (``urllib.parse.quote``); this function only escapes it for the attribute.
    colour
        CSS colour of the bars.
    decimals
        Digits after the point in the printed values.

    Returns
    -------
    str
        One ``<svg>`` element.

    Raises
    ------
    ValueError
        A bad ``chart_id``, a negative or non-finite value, or an ``href`` result with a
        scheme other than http or https (``javascript:`` must never become a link).
    """
    _check_chart_id(chart_id)
    for label, value in items:
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"bar {label!r} has value {value!r}: need a finite number >= 0")

    shown = [f"{value:,.{decimals}f} {unit}".rstrip() for _, value in items]
    if items:
        desc = (
            "; ".join(f"{label}: {text}" for (label, _), text in zip(items, shown, strict=True))
            + "."
        )
    else:
        desc = "No data: nothing to rank."

    label_chars = min(max((len(label) for label, _ in items), default=0), _MAX_LABEL_CHARS)
    left = label_chars * FONT_SIZE * _LABEL_CHAR_WIDTH + 12
    value_width = max((len(text) for text in shown), default=0) * FONT_SIZE * _CHAR_WIDTH + 8
    top, bar_height, row_pitch = 8.0, 18.0, 26.0
    bar_space = WIDTH - left - value_width - 8
    largest = max((value for _, value in items), default=0.0)

    parts: list[str] = []
    for index, ((label, value), text) in enumerate(zip(items, shown, strict=True)):
        y = top + index * row_pitch
        length = bar_space * value / largest if largest else 0.0
        row = "".join(
            [
                _element("title", {}, _text(f"{label}: {text}")),
                _text_element(
                    _shorten(label),
                    x=left - 8,
                    y=y + bar_height / 2,
                    anchor="end",
                    middle=True,
                    css_class="label",
                ),
                _element(
                    "rect",
                    {
                        "class": "bar",
                        "x": left,
                        "y": y,
                        "width": length,
                        "height": bar_height,
                        "fill": colour,
                    },
                ),
                _text_element(
                    text,
                    x=left + length + 6,
                    y=y + bar_height / 2,
                    anchor="start",
                    middle=True,
                    css_class="value",
                ),
            ]
        )
        if href is None:
            parts.append(_element("g", {"class": "row"}, row))
        else:
            link = _checked_href(href(label))
            parts.append(_element("a", {"class": "row", "href": link}, row))
    if not items:
        parts.append(_no_data(WIDTH / 2, top + bar_height / 2 + 5))
    height = top + max(len(items), 1) * row_pitch + 8
    return _svg(chart_id, title, desc, height, parts)


# --- markup ------------------------------------------------------------------------------------


def _svg(chart_id: str, title: str, desc: str, height: float, parts: Iterable[str]) -> str:
    """The outer element: scalable, and named and described for assistive technology."""
    title_id, desc_id = f"{chart_id}-title", f"{chart_id}-desc"
    head = _element("title", {"id": title_id}, _text(title)) + _element(
        "desc", {"id": desc_id}, _text(desc)
    )
    attributes: dict[str, str | float] = {
        "xmlns": "http://www.w3.org/2000/svg",
        "id": chart_id,
        "class": "chart",
        "viewBox": f"0 0 {WIDTH} {_num(height)}",
        "width": "100%",
        "role": "img",
        "aria-labelledby": f"{title_id} {desc_id}",
        "font-family": FONT_FAMILY,
        "font-size": FONT_SIZE,
    }
    return _element("svg", attributes, "\n".join([head, *parts]))


def _element(name: str, attributes: Mapping[str, str | float], content: str | None = None) -> str:
    """One element; ``content`` is markup already made safe by the caller."""
    attrs = "".join(f" {key}={_attr(value)}" for key, value in attributes.items())
    if content is None:
        return f"<{name}{attrs}/>"
    return f"<{name}{attrs}>{content}</{name}>"


def _text_element(
    text: str,
    *,
    x: float,
    y: float,
    anchor: str,
    size: int = FONT_SIZE,
    middle: bool = False,
    css_class: str | None = None,
) -> str:
    """A ``<text>``; ``middle`` centres it on ``y`` without relying on dominant-baseline."""
    attributes: dict[str, str | float] = {}
    if css_class is not None:
        attributes["class"] = css_class
    attributes |= {
        "x": x,
        "y": y + size * 0.35 if middle else y,
        "text-anchor": anchor,
        "fill": TEXT_COLOUR,
    }
    if size != FONT_SIZE:
        attributes["font-size"] = size
    return _element("text", attributes, _text(text))


def _line(x1: float, y1: float, x2: float, y2: float, colour: str) -> str:
    """A one-unit line: grid lines, axes and ticks."""
    return _element(
        "line", {"x1": x1, "y1": y1, "x2": x2, "y2": y2, "stroke": colour, "stroke-width": 1}
    )


def _hatch_pattern(pattern_id: str) -> str:
    """Diagonal lines for ``_hatch``, defined once per chart."""
    line: dict[str, str | float] = {
        "x1": 0,
        "y1": 0,
        "x2": 0,
        "y2": 6,
        "stroke": HATCH_COLOUR,
        "stroke-width": 1.5,
    }
    pattern: dict[str, str | float] = {
        "id": pattern_id,
        "width": 6,
        "height": 6,
        "patternUnits": "userSpaceOnUse",
        "patternTransform": "rotate(45)",
    }
    return "<defs>" + _element("pattern", pattern, _element("line", line)) + "</defs>"


def _swatch(
    css_class: str, box: Mapping[str, float], colour: str, tooltip: str | None = None
) -> str:
    """A filled, thinly bordered rectangle: the border shows a white "closed" cell."""
    attributes: dict[str, str | float] = {
        "class": css_class,
        **box,
        "fill": colour,
        "stroke": CELL_BORDER_COLOUR,
        "stroke-width": 0.5,
    }
    title = None if tooltip is None else _element("title", {}, _text(tooltip))
    return _element("rect", attributes, title)


def _hatch(pattern_id: str, box: Mapping[str, float]) -> str:
    """Hatching over a cell; it lets the pointer through so the cell's tooltip still shows."""
    attributes: dict[str, str | float] = {
        "class": "hatch",
        **box,
        "fill": f"url(#{pattern_id})",
        "pointer-events": "none",
    }
    return _element("rect", attributes)


def _no_data(x: float, y: float) -> str:
    """The visible "no data" note: an empty chart must not look like a broken one."""
    return _element(
        "text",
        {"class": "no-data", "x": x, "y": y, "text-anchor": "middle", "fill": MUTED_COLOUR},
        "no data",
    )


def _text(text: str) -> str:
    """Text content, safe inside any element."""
    return escape(_NOT_XML_RE.sub("\ufffd", text))


def _attr(value: str | float) -> str:
    """A quoted attribute value; numbers are rounded so output does not carry float noise."""
    if isinstance(value, str):
        return quoteattr(_NOT_XML_RE.sub("\ufffd", value))
    return f'"{_num(value)}"'


def _num(value: float) -> str:
    """A coordinate with at most two decimals and no trailing zeros: ``12.5``, ``40``."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


# --- checks and small helpers ------------------------------------------------------------------


def _check_chart_id(chart_id: str) -> None:
    """Ids go into ``aria-labelledby`` (space separated) and ``url(#…)``: keep them plain."""
    if not _CHART_ID_RE.fullmatch(chart_id):
        raise ValueError(
            f"chart_id {chart_id!r} must be a letter then up to 63 letters, digits, '-' or '_'"
        )


def _check_edges(edges: Sequence[float], *, allow_empty: bool) -> None:
    """Edges must be finite and strictly increasing, else bins overlap or are empty by design."""
    if len(edges) < 2 and not allow_empty:
        raise ValueError(f"need at least two bin edges, got {len(edges)}")
    if not all(math.isfinite(edge) for edge in edges):
        raise ValueError("bin edges must be finite numbers")
    if any(lo >= hi for lo, hi in pairwise(edges)):
        raise ValueError(f"bin edges must be strictly increasing, got {list(edges)}")


def _checked_href(url: str) -> str:
    """The link, if browsers would read it as relative, http or https.

    Browsers drop ASCII tabs and newlines and strip leading controls before reading the scheme
    (WHATWG URL), so ``"java\\tscript:"`` is ``javascript:`` to them and must be to us too.
    """
    scheme = urlsplit(re.sub("[\t\n\r]", "", url).lstrip("".join(map(chr, range(33))))).scheme
    if scheme.lower() not in _SAFE_SCHEMES:
        raise ValueError(f"refusing link {url!r}: only relative, http and https links are drawn")
    return url


def _label_step(lengths: Sequence[int], slot: float) -> int:
    """Label every n-th slot, n the smallest that keeps neighbouring labels apart."""
    width = [length * SMALL_FONT_SIZE * _CHAR_WIDTH for length in lengths]
    step = 1
    while step < len(width) and any(
        (width[i] + width[i + step]) / 2 + 4 > step * slot
        for i in range(0, len(width) - step, step)
    ):
        step += 1
    return step


def _ticks(largest: int) -> tuple[int, int]:
    """A 1-2-5 step and at most five ticks above zero that cover ``largest`` (whole counts)."""
    step, factors = 1, (2, 5 / 2, 2)  # 1, 2, 5, 10, 20, 50, ...
    index = 0
    while math.ceil(largest / step) > 5:
        step = round(step * factors[index % 3])
        index += 1
    return step, max(1, math.ceil(largest / step))


def _edge(value: float) -> str:
    """A bin edge as people write it: ``10`` not ``10.0``, ``2.5`` kept."""
    return str(int(value)) if value == int(value) else f"{value:g}"


def _shorten(label: str) -> str:
    """Labels longer than the label column are cut with an ellipsis (the tooltip has them whole)."""
    if len(label) <= _MAX_LABEL_CHARS:
        return label
    return label[: _MAX_LABEL_CHARS - 1] + "…"
