"""The dashboard's SVG charts: well-formed, accessible, escaped, and drawing the numbers given.

Every chart is parsed with ElementTree (a browser forgives broken markup, the tests must not),
and every assertion checks a fact computed by hand from the input: how many bars or cells,
which colour, which numbers in the text equivalent.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from itertools import pairwise
from urllib.parse import quote

import pytest

from storestatus.charts import (
    RANGE_DASH,
    STATE_COLOURS,
    WIDTH,
    bars,
    histogram,
    timeline,
)

NS = "{http://www.w3.org/2000/svg}"
EDGES = [float(edge) for edge in range(0, 101, 10)]
HOSTILE = "<script>alert(1)</script>\" onload=\"x & 'y'"
MON = "Mon 2023-01-23"
TUE = "Tue 2023-01-24"
# Monday: closed until 08:00, up 08-14, down 14-16, unknown 16-17, up 17-20, closed 20-22,
# outside the window 22-24. Tuesday: up all day.
MONDAY: list[str | None] = [
    *["closed"] * 8,
    *["up"] * 6,
    *["down"] * 2,
    "unknown",
    *["up"] * 3,
    *["closed"] * 2,
    None,
    None,
]
TUESDAY: list[str | None] = ["up"] * 24


def parse(svg: str) -> ET.Element:
    """The chart as a tree; fails the test if the markup is not well-formed XML."""
    return ET.fromstring(svg)


def desc(root: ET.Element) -> str:
    return root.findtext(f"{NS}desc") or ""


def with_class(root: ET.Element, tag: str, css_class: str) -> list[ET.Element]:
    return [e for e in root.iter(f"{NS}{tag}") if e.get("class") == css_class]


def texts(root: ET.Element, css_class: str) -> list[str]:
    return [e.text or "" for e in with_class(root, "text", css_class)]


def number(element: ET.Element, attribute: str) -> float:
    return float(element.get(attribute, "nan"))


def sample_histogram(
    *,
    title: str = "Uptime last week",
    x_label: str = "uptime %",
    y_label: str = "stores",
    chart_id: str = "uptime",
) -> str:
    counts = [1, 2, 0, 0, 0, 0, 0, 0, 0, 1]  # 5, 15, 15 and 100 in bins of 10
    return histogram(
        counts, EDGES, title=title, x_label=x_label, y_label=y_label, chart_id=chart_id
    )


def sample_timeline() -> str:
    return timeline(
        [(MON, MONDAY), (TUE, TUESDAY)], states=STATE_COLOURS, title="Store 7", chart_id="week"
    )


def sample_bars(href: Callable[[str], str] | None = None) -> str:
    items = [("store-a", 12.0), ("store-b", 6.0), ("store-c", 3.0)]
    return bars(items, title="Most downtime", unit="h", chart_id="top", href=href)


# --- every chart --------------------------------------------------------------------------------

CHARTS: dict[str, Callable[[], str]] = {
    "histogram": sample_histogram,
    "timeline": sample_timeline,
    "bars": sample_bars,
}


@pytest.mark.parametrize("make", CHARTS.values(), ids=CHARTS.keys())
def test_chart_is_an_accessible_scalable_image(make: Callable[[], str]) -> None:
    root = parse(make())
    assert root.tag == f"{NS}svg"
    assert root.get("role") == "img"
    assert root.get("width") == "100%"
    assert root.get("height") is None  # the viewBox's aspect ratio sets it
    assert root.get("viewBox", "").split()[:3] == ["0", "0", str(WIDTH)]
    labelled_by = root.get("aria-labelledby", "").split()
    children = {child.get("id"): child.tag for child in root}
    assert [children.get(ref) for ref in labelled_by] == [f"{NS}title", f"{NS}desc"]


@pytest.mark.parametrize("make", CHARTS.values(), ids=CHARTS.keys())
def test_chart_ids_are_prefixed_and_references_resolve(make: Callable[[], str]) -> None:
    root = parse(make())
    chart_id = root.get("id", "")
    ids = [e.get("id", "") for e in root.iter() if e.get("id")]
    assert len(ids) == len(set(ids))
    assert all(i == chart_id or i.startswith(f"{chart_id}-") for i in ids)
    fills = {e.get("fill", "") for e in root.iter()}
    references = {fill[5:-1] for fill in fills if fill.startswith("url(#")}
    assert references <= set(ids)


@pytest.mark.parametrize("make", CHARTS.values(), ids=CHARTS.keys())
def test_chart_is_deterministic(make: Callable[[], str]) -> None:
    assert make() == make()


def test_chart_does_not_depend_on_the_hash_seed() -> None:
    # Set order changes with PYTHONHASHSEED; a chart iterating a set would differ between
    # server processes and break page caching.
    program = (
        f"import runpy; charts = runpy.run_path({__file__!r});"
        "print(charts['sample_histogram']() + charts['sample_timeline']()"
        " + charts['sample_bars'](lambda s: '/s/' + s))"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", program],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1
    assert "<svg" in outputs.pop()


@pytest.mark.parametrize("chart_id", ["", "1st", "a b", 'x"y', "a<b", "x" * 65])
def test_chart_id_must_be_plain(chart_id: str) -> None:
    with pytest.raises(ValueError, match="chart_id"):
        sample_histogram(chart_id=chart_id)
    with pytest.raises(ValueError, match="chart_id"):
        bars([], title="t", unit="h", chart_id=chart_id)
    with pytest.raises(ValueError, match="chart_id"):
        timeline([], states=STATE_COLOURS, title="t", chart_id=chart_id)


def no_active_content(root: ET.Element) -> None:
    """Nothing the hostile text asked for became markup."""
    assert not [e for e in root.iter() if e.tag.endswith("script")]
    assert not [e for e in root.iter() if any(name.startswith("on") for name in e.attrib)]


def test_hostile_text_stays_text_in_histogram() -> None:
    root = parse(sample_histogram(title=HOSTILE, x_label=HOSTILE, y_label=HOSTILE))
    no_active_content(root)
    assert root.findtext(f"{NS}title") == HOSTILE
    assert texts(root, "x-label") == [HOSTILE]
    assert texts(root, "y-label") == [HOSTILE]
    assert desc(root).startswith(f"{HOSTILE} by {HOSTILE}: ")


def test_hostile_text_stays_text_in_timeline() -> None:
    root = parse(timeline([(HOSTILE, TUESDAY)], states=STATE_COLOURS, title=HOSTILE, chart_id="t"))
    no_active_content(root)
    assert root.findtext(f"{NS}title") == HOSTILE
    tooltips = [cell.findtext(f"{NS}title") for cell in with_class(root, "rect", "cell")]
    assert tooltips[0] == f"{HOSTILE} 00:00{RANGE_DASH}01:00: up"
    assert f"({HOSTILE})" in desc(root)


def test_hostile_text_and_links_stay_text_in_bars() -> None:
    def link(label: str) -> str:
        return "/stores/" + label  # deliberately not percent-encoded: escaping must still hold

    svg = bars([(HOSTILE, 2.0)], title=HOSTILE, unit="&", chart_id="b", href=link)
    assert "<script" not in svg
    assert "2.0 &amp;" in svg
    root = parse(svg)
    no_active_content(root)
    (anchor,) = root.iter(f"{NS}a")
    assert anchor.get("href") == "/stores/" + HOSTILE
    assert anchor.findtext(f"{NS}title") == f"{HOSTILE}: 2.0 &"
    assert texts(root, "value") == ["2.0 &"]
    assert desc(root) == f"{HOSTILE}: 2.0 &."


def test_characters_xml_forbids_are_replaced() -> None:
    label = "store\x00\x1b\ufffe7"
    root = parse(bars([(label, 1.0)], title="t\x07", unit="h", chart_id="b"))
    assert texts(root, "label") == ["store\ufffd\ufffd\ufffd7"]
    assert root.findtext(f"{NS}title") == "t\ufffd"


# --- histogram ----------------------------------------------------------------------------------


def test_histogram_draws_one_bar_per_non_empty_bin_with_its_count() -> None:
    root = parse(sample_histogram())
    assert len(with_class(root, "rect", "bar")) == 3
    assert texts(root, "count") == ["1", "2", "1"]
    bar_tooltips = [bar.findtext(f"{NS}title") for bar in with_class(root, "rect", "bar")]
    assert bar_tooltips == [f"0{RANGE_DASH}10: 1", f"10{RANGE_DASH}20: 2", f"90{RANGE_DASH}100: 1"]


def test_histogram_labels_every_bin() -> None:
    root = parse(sample_histogram())
    expected = [f"{low}{RANGE_DASH}{low + 10}" for low in range(0, 100, 10)]
    assert texts(root, "bin") == expected


def test_histogram_bar_heights_are_proportional_to_counts() -> None:
    one, two, last = with_class(parse(sample_histogram()), "rect", "bar")
    assert number(two, "height") == pytest.approx(2 * number(one, "height"))
    assert number(last, "height") == pytest.approx(number(one, "height"))
    # All bars stand on the same baseline, and the 90-100 bar is nine bins right of 0-10.
    bottoms = {round(number(bar, "y") + number(bar, "height"), 2) for bar in (one, two, last)}
    assert len(bottoms) == 1
    step = number(two, "x") - number(one, "x")
    assert number(last, "x") - number(one, "x") == pytest.approx(9 * step)


def test_histogram_desc_lists_every_bin() -> None:
    text = desc(parse(sample_histogram()))
    zeros = ", ".join(f"{low}{RANGE_DASH}{low + 10}: 0" for low in range(20, 90, 10))
    assert text == (
        f"stores by uptime %: 0{RANGE_DASH}10: 1, 10{RANGE_DASH}20: 2, {zeros}, "
        f"90{RANGE_DASH}100: 1 (total 4)."
    )


def test_histogram_y_ticks_cover_the_largest_count() -> None:
    counts = [3, 17, 0]
    root = parse(histogram(counts, [0, 1, 2, 3], title="t", x_label="x", y_label="y", chart_id="h"))
    ticks = [
        int(e.text or "")
        for e in root.iter(f"{NS}text")
        if e.get("class") is None and (e.text or "").isdigit()
    ]
    # 1-2-5 steps, at most five above zero: 17 needs steps of 5 up to 20.
    assert ticks == [0, 5, 10, 15, 20]


def test_histogram_crowded_labels_do_not_overlap() -> None:
    edges = [float(edge) for edge in range(0, 101, 2)]  # 50 bins
    counts = [2] * 50  # 0..99, two a bin
    root = parse(histogram(counts, edges, title="t", x_label="x", y_label="y", chart_id="h"))
    labels = with_class(root, "text", "bin")
    assert 0 < len(labels) < 50
    by_line: dict[str, list[ET.Element]] = {}
    for label in labels:
        by_line.setdefault(label.get("y", ""), []).append(label)
    for line in by_line.values():
        for left, right in pairwise(line):
            # 12-unit text, about 0.6 em per character: half of each label's width apart.
            room = (len(left.text or "") + len(right.text or "")) / 2 * 12 * 0.6
            assert number(right, "x") - number(left, "x") > room


@pytest.mark.parametrize(
    ("counts", "edges"),
    [([0] * 10, EDGES), ([], []), ([], [0.0])],
    ids=["zeros", "no bins", "one edge"],
)
def test_histogram_without_data_says_so(counts: list[int], edges: list[float]) -> None:
    root = parse(histogram(counts, edges, title="t", x_label="x", y_label="stores", chart_id="h"))
    assert texts(root, "no-data") == ["no data"]
    assert with_class(root, "rect", "bar") == []
    assert desc(root).startswith("No data: 0 stores")
    assert len(texts(root, "bin")) == len(counts)


@pytest.mark.parametrize(
    ("counts", "edges", "match"),
    [([1, 2], EDGES, "edges"), ([1], [0.0], "edges"), ([1, -1], [0.0, 1.0, 2.0], "negative")],
)
def test_histogram_refuses_inconsistent_input(
    counts: list[int], edges: list[float], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        histogram(counts, edges, title="t", x_label="x", y_label="y", chart_id="h")


# --- timeline -----------------------------------------------------------------------------------


def cells_by_row(root: ET.Element) -> dict[str, list[ET.Element]]:
    rows: dict[str, list[ET.Element]] = {}
    for cell in with_class(root, "rect", "cell"):
        rows.setdefault(cell.get("y", ""), []).append(cell)
    return rows


def test_timeline_draws_a_cell_per_hour_inside_the_window() -> None:
    root = parse(sample_timeline())
    rows = list(cells_by_row(root).values())
    assert [len(row) for row in rows] == [22, 24]  # Monday's last two hours are blank
    assert texts(root, "day") == [MON, TUE]


def test_timeline_cells_have_the_state_colour_and_a_tooltip() -> None:
    monday, tuesday = cells_by_row(parse(sample_timeline())).values()
    expected = {
        0: "closed",
        8: "up",
        14: "down",
        15: "down",
        16: "unknown",
        19: "up",
        21: "closed",
    }
    for hour, state in expected.items():
        assert monday[hour].get("fill") == STATE_COLOURS[state]
        tooltip = f"{MON} {hour:02d}:00{RANGE_DASH}{hour + 1:02d}:00: {state}"
        assert monday[hour].findtext(f"{NS}title") == tooltip
    assert {cell.get("fill") for cell in tuesday} == {STATE_COLOURS["up"]}
    assert tuesday[23].findtext(f"{NS}title") == f"{TUE} 23:00{RANGE_DASH}24:00: up"


def test_timeline_cells_are_placed_by_hour() -> None:
    monday, tuesday = cells_by_row(parse(sample_timeline())).values()
    width = number(tuesday[0], "width")
    for left, right in pairwise(tuesday):
        # Cells tile the row edge to edge; coordinates are rounded to 0.01.
        assert number(right, "x") - number(left, "x") == pytest.approx(width, abs=0.02)
    assert number(monday[21], "x") == pytest.approx(number(tuesday[21], "x"))
    assert number(monday[0], "y") < number(tuesday[0], "y")


def test_timeline_hatches_unknown_cells_and_their_swatch() -> None:
    root = parse(sample_timeline())
    hatches = with_class(root, "rect", "hatch")
    assert len(hatches) == 2  # Monday 16:00 and the legend swatch
    (unknown,) = [c for c in with_class(root, "rect", "cell") if c.get("fill") == "#d9d9d9"]
    assert (hatches[0].get("x"), hatches[0].get("y")) == (unknown.get("x"), unknown.get("y"))
    assert hatches[0].get("pointer-events") == "none"  # the cell's tooltip must stay reachable


def test_timeline_desc_and_legend_give_hours_per_state() -> None:
    root = parse(sample_timeline())
    # up 6 + 3 on Monday and 24 on Tuesday; closed 8 + 2; two blank hours.
    assert desc(root) == (
        f"Hours per state over 2 days ({MON} to {TUE}): "
        "up 33 h, down 2 h, unknown 1 h, closed 10 h; 2 h outside the window."
    )
    assert texts(root, "legend") == ["up (33 h)", "down (2 h)", "unknown (1 h)", "closed (10 h)"]
    swatches = with_class(root, "rect", "swatch")
    assert [s.get("fill") for s in swatches] == list(STATE_COLOURS.values())


def test_timeline_labels_the_hours_given() -> None:
    rows = [(MON, TUESDAY)]
    root = parse(timeline(rows, states=STATE_COLOURS, title="t", chart_id="t", hour_labels=(0, 12)))
    assert texts(root, "hour") == ["00:00", "12:00"]
    labels = [e.text for e in root.iter(f"{NS}text") if (e.text or "").endswith(":00")]
    assert labels == ["00:00", "12:00"]


def test_timeline_of_blank_hours_only() -> None:
    root = parse(timeline([(MON, [None] * 24)], states=STATE_COLOURS, title="t", chart_id="t"))
    assert with_class(root, "rect", "cell") == []
    assert desc(root).endswith("closed 0 h; 24 h outside the window.")


def test_timeline_without_rows_says_so() -> None:
    root = parse(timeline([], states=STATE_COLOURS, title="t", chart_id="t"))
    assert texts(root, "no-data") == ["no data"]
    assert desc(root) == "No data: no days to show."
    assert texts(root, "legend") == [f"{state} (0 h)" for state in STATE_COLOURS]


@pytest.mark.parametrize(
    ("rows", "hour_labels", "match"),
    [
        ([(MON, ["up"] * 23)], (0, 24), "23 cells"),
        ([(MON, ["up"] * 23 + ["flapping"])], (0, 24), "flapping"),
        ([(MON, TUESDAY)], (0, 25), "hour labels"),
    ],
)
def test_timeline_refuses_bad_rows(
    rows: Sequence[tuple[str, Sequence[str | None]]], hour_labels: tuple[int, ...], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        timeline(rows, states=STATE_COLOURS, title="t", chart_id="t", hour_labels=hour_labels)


# --- bars ---------------------------------------------------------------------------------------


def test_bars_lengths_are_proportional_to_values() -> None:
    root = parse(sample_bars())
    a, b, c = with_class(root, "rect", "bar")
    assert a.get("x") == b.get("x") == c.get("x")  # all bars start at the same zero line
    assert number(b, "width") == pytest.approx(number(a, "width") / 2, abs=0.01)
    assert number(c, "width") == pytest.approx(number(a, "width") / 4, abs=0.01)
    assert texts(root, "label") == ["store-a", "store-b", "store-c"]
    assert texts(root, "value") == ["12.0 h", "6.0 h", "3.0 h"]
    # Each value is printed just past the end of its bar.
    for bar, value in zip((a, b, c), with_class(root, "text", "value"), strict=True):
        assert number(value, "x") > number(bar, "x") + number(bar, "width")


def test_bars_desc_lists_every_item_in_order() -> None:
    assert desc(parse(sample_bars())) == "store-a: 12.0 h; store-b: 6.0 h; store-c: 3.0 h."


def test_bars_without_href_have_no_links() -> None:
    assert list(parse(sample_bars()).iter(f"{NS}a")) == []


def test_bars_link_each_row() -> None:
    root = parse(sample_bars(href=lambda label: f"/stores/{quote(label)}"))
    anchors = list(root.iter(f"{NS}a"))
    assert [a.get("href") for a in anchors] == [
        "/stores/store-a",
        "/stores/store-b",
        "/stores/store-c",
    ]
    # Label, bar and value of a row are one link.
    assert [len(list(a.iter(f"{NS}rect"))) for a in anchors] == [1, 1, 1]
    assert [[t.get("class") for t in a.iter(f"{NS}text")] for a in anchors] == [
        ["label", "value"]
    ] * 3


@pytest.mark.parametrize(
    "url",
    ["javascript:alert(1)", " JavaScript:alert(1)", "java\tscript:alert(1)", "data:text/html,x"],
)
def test_bars_refuse_links_that_run_code(url: str) -> None:
    with pytest.raises(ValueError, match="refusing link"):
        bars([("a", 1.0)], title="t", unit="h", chart_id="b", href=lambda _: url)


@pytest.mark.parametrize("url", ["https://example.com/s/1", "/s/1?week=2023-01-23", "s/a:b"])
def test_bars_accept_web_and_relative_links(url: str) -> None:
    (anchor,) = parse(
        bars([("a", 1.0)], title="t", unit="h", chart_id="b", href=lambda _: url)
    ).iter(f"{NS}a")
    assert anchor.get("href") == url


def test_bars_cut_long_labels_but_keep_them_whole_in_tooltip_and_desc() -> None:
    label = "1121347513178404219999-and-more"
    root = parse(bars([(label, 1.0)], title="t", unit="h", chart_id="b"))
    (shown,) = texts(root, "label")
    assert shown == label[:23] + "…"
    (row,) = with_class(root, "g", "row")
    assert row.findtext(f"{NS}title") == f"{label}: 1.0 h"
    assert desc(root) == f"{label}: 1.0 h."


def test_bars_of_zero_values_are_drawn_empty() -> None:
    root = parse(bars([("a", 0.0), ("b", 0.0)], title="t", unit="h", chart_id="b", decimals=0))
    assert [number(bar, "width") for bar in with_class(root, "rect", "bar")] == [0.0, 0.0]
    assert texts(root, "value") == ["0 h", "0 h"]


def test_bars_without_items_say_so() -> None:
    root = parse(bars([], title="t", unit="h", chart_id="b"))
    assert texts(root, "no-data") == ["no data"]
    assert desc(root) == "No data: nothing to rank."


@pytest.mark.parametrize("value", [-1.0, float("nan"), float("inf")])
def test_bars_refuse_values_that_cannot_be_drawn(value: float) -> None:
    with pytest.raises(ValueError, match="finite number >= 0"):
        bars([("a", value)], title="t", unit="h", chart_id="b")
