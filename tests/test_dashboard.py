"""The dashboard of ``storestatus serve`` (issue #12) in a real headless Chromium: each page
renders and shows the numbers the report and ``explain`` hold (computed here independently
from the CSV and the CLI), the button starts a report, and a screenshot of each page at 1280
and 400 px wide is written under the test's temporary directory (``pytest --basetemp`` keeps
them where you can look)."""

from __future__ import annotations

import csv
import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from browser import headless_chromium
from playwright.sync_api import Browser, Page
from playwright.sync_api import Error as PlaywrightError
from runners import ingest_examples, run_cli
from service_server import running_server

from storestatus.config import DataDir
from storestatus.locks import file_lock

WIDTHS = (1280, 400)
TOKEN = "a-token-of-the-dashboard-tests-0123"


@dataclass(frozen=True)
class Dashboard:
    base: str
    data_dir: Path
    report_id: str  # a Complete report of the demo data
    rows: list[dict[str, str]]  # its CSV


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    data_dir = tmp_path_factory.mktemp("dashboard") / "data"
    demo = run_cli(data_dir, "demo")
    assert demo.returncode == 0, demo.stderr
    (report_csv,) = (data_dir / "reports").glob("*.csv")
    with report_csv.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    with running_server(data_dir) as base:
        yield Dashboard(base, data_dir, report_csv.stem, rows)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with headless_chromium() as chromium:
        yield chromium


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": WIDTHS[0], "height": 900})
    yield context.new_page()
    context.close()


def screenshots(page: Page, folder: Path, name: str) -> None:
    """The page at each width, whole; a PNG as wide as the window, no wider (nothing overflows
    the page sideways: wide tables scroll inside their box)."""
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        path = folder / f"{name}-{width}.png"
        page.screenshot(path=str(path), full_page=True)
        header = path.read_bytes()[:24]
        assert header[:8] == b"\x89PNG\r\n\x1a\n"
        png_width, png_height = struct.unpack(">II", header[16:24])
        assert png_width == width
        assert png_height >= 300
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} at {width} px is {overflow} px too wide"
    page.set_viewport_size({"width": WIDTHS[0], "height": 900})


def table(page: Page, selector: str) -> list[list[str]]:
    """The text of a table's body cells."""
    return [
        [cell.strip() for cell in row.locator("td").all_inner_texts()]
        for row in page.locator(f"{selector} tbody tr").all()
    ]


def test_the_reports_page_lists_the_report(
    dashboard: Dashboard, page: Page, tmp_path: Path
) -> None:
    response = page.goto(f"{dashboard.base}/")
    assert response is not None
    assert response.status == 200
    assert page.title() == "Reports · storestatus"
    first = table(page, "table")[0]
    assert first[0] == dashboard.report_id
    assert first[1] == "Complete"
    assert first[4] == f"{len(dashboard.rows):,}"
    assert page.get_by_role("button", name="Trigger a report").is_visible()
    screenshots(page, tmp_path, "index")


def test_the_report_page_shows_the_report_s_numbers(
    dashboard: Dashboard, page: Page, tmp_path: Path
) -> None:
    rows = dashboard.rows
    down = [row for row in rows if float(row["downtime_last_week"]) > 0]
    worst = sorted(down, key=lambda row: (-float(row["downtime_last_week"]), row["store_id"]))[:20]
    known = [
        100
        * float(r["uptime_last_week"])
        / (float(r["uptime_last_week"]) + float(r["downtime_last_week"]))
        for r in rows
        if float(r["uptime_last_week"]) + float(r["downtime_last_week"]) > 0
    ]
    assert down, "the demo data must have downtime for this test to mean anything"
    page.goto(f"{dashboard.base}/reports/{dashboard.report_id}")
    cards = page.locator(".card .value").all_inner_texts()
    assert cards[:3] == [f"{len(rows):,}", f"{len(down):,}", f"{len(rows) - len(known):,}"]
    listed = table(page, "table:has(th:text('down, h'))")
    assert listed == [[row["store_id"], f"{float(row['downtime_last_week']):.2f}"] for row in worst]
    histogram = page.locator("svg#uptime-histogram")
    assert histogram.get_attribute("role") == "img"
    assert (
        "uptime last week"
        in (histogram.locator("#uptime-histogram-title").text_content() or "").lower()
    )
    page.locator("details summary").click()
    counted = [int(row[1].replace(",", "")) for row in table(page, "details table")]
    expected = [0] * 10
    for percent in known:
        expected[min(int(percent // 10), 9)] += 1
    assert counted == expected
    assert page.locator("svg#most-downtime a").count() == len(worst)
    csv_link = page.get_by_role("link", name="CSV")
    assert csv_link.get_attribute("href") == f"/get_report/{dashboard.report_id}"
    screenshots(page, tmp_path, "report")
    # The worst store's bar links to its page.
    page.locator("svg#most-downtime a").first.click()
    page.wait_for_url(f"**/stores/{quote(worst[0]['store_id'], safe='')}")
    assert page.locator("h1").inner_text() == f"Store {worst[0]['store_id']}"


def test_the_store_page_pictures_explain(dashboard: Dashboard, page: Page, tmp_path: Path) -> None:
    worst = max(dashboard.rows, key=lambda row: float(row["downtime_last_week"]))
    store_id = worst["store_id"]
    explained = run_cli(dashboard.data_dir, "explain", store_id, "--json")
    assert explained.returncode == 0, explained.stderr
    facts = json.loads(explained.stdout)
    page.goto(f"{dashboard.base}/stores/{quote(store_id, safe='')}")
    assert page.locator("h1").inner_text() == f"Store {store_id}"
    figures = table(page, "table:has(th:text('uptime'))")
    for (name, window), row in zip(facts["windows"].items(), figures, strict=True):
        assert row[0] == name.replace("_", " ")
        assert row[1:6] == [
            f"{window[key]:.2f}" for key in ("uptime", "downtime", "unknown", "business")
        ] + [str(window["polls"])]
    assert figures[2][1:3] == [worst["uptime_last_week"], worst["downtime_last_week"]]
    timeline = page.locator("svg#timeline")
    assert timeline.get_attribute("role") == "img"
    description = timeline.locator("#timeline-desc").text_content() or ""
    assert "down" in description
    assert "up" in description
    screenshots(page, tmp_path, "store")  # as a visitor first sees it: the polls folded
    polls = page.locator("details:has(th:text('counted'))")
    assert polls.locator("summary").inner_text().startswith(f"{len(facts['polls'])} polls")
    polls.locator("summary").click()
    assert len(table(page, "details table:has(th:text('counted'))")) == len(facts["polls"])


def test_the_button_starts_a_report(dashboard: Dashboard, page: Page) -> None:
    page.goto(f"{dashboard.base}/")
    before = set(page.locator("tbody td:first-child").all_inner_texts())
    page.get_by_role("button", name="Trigger a report").click()
    page.wait_for_url("**/reports/*")
    report_id = page.url.rsplit("/", 1)[1]
    assert report_id not in before
    assert (dashboard.data_dir / "reports" / f"{report_id}.json").is_file()
    for _ in range(120):  # a Running page reloads itself every 3 s; no script involved
        if page.locator(".state").first.inner_text() == "Complete":
            break
        page.wait_for_timeout(500)
        page.reload()
    assert page.locator(".state").first.inner_text() == "Complete"
    page.goto(f"{dashboard.base}/")
    assert report_id in page.locator("tbody td:first-child").all_inner_texts()


def test_bad_options_and_unknown_ids_get_a_page_saying_so(dashboard: Dashboard, page: Page) -> None:
    for path, status, words in [
        ("/reports/nope", 404, "unknown report id"),
        ("/stores/no-such-store", 404, "unknown store id 'no-such-store'"),
        ("/stores/x?interpolation=linear", 422, "interpolation"),
        ("/stores/x?max_gap=soon", 422, "cannot read duration"),
    ]:
        response = page.goto(f"{dashboard.base}{path}")
        assert response is not None
        assert response.status == status, path
        assert words in page.locator(".problem").inner_text()
        assert str(dashboard.data_dir) not in page.content()  # no server paths


def test_hostile_store_ids_are_shown_as_text(tmp_path: Path, browser: Browser) -> None:
    data_dir = tmp_path / "data"
    hostile = '<img src=x onerror="document.title=1">&amp;'
    status = tmp_path / "status.csv"
    with status.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["store_id", "status", "timestamp_utc"])
        writer.writerow([hostile, "inactive", "2023-01-23 10:00:00 UTC"])
    assert run_cli(data_dir, "ingest", "--status", str(status)).returncode == 0
    with running_server(data_dir) as base:
        page = browser.new_page()
        page.goto(f"{base}/stores/{quote(hostile, safe='')}")
        assert page.locator("h1").inner_text() == f"Store {hostile}"
        assert page.locator("main img").count() == 0
        assert page.title() == f"Store {hostile} · storestatus"
        page.close()


def test_with_a_token_the_browser_asks_for_it(dashboard: Dashboard, browser: Browser) -> None:
    with running_server(dashboard.data_dir, env={"STORESTATUS_API_TOKEN": TOKEN}) as base:
        anonymous = browser.new_page()  # no one to type the password: the browser gives up
        with pytest.raises(PlaywrightError, match="ERR_INVALID_AUTH_CREDENTIALS"):
            anonymous.goto(f"{base}/")
        anonymous.close()
        context = browser.new_context(http_credentials={"username": "ops", "password": TOKEN})
        page = context.new_page()
        response = page.goto(f"{base}/")  # asked for the password: the token
        assert response is not None
        assert response.status == 200
        assert dashboard.report_id in page.locator("tbody").inner_text()
        context.close()


def test_the_button_says_why_when_too_many_reports_run(tmp_path: Path, browser: Browser) -> None:
    data_dir = tmp_path / "data"
    ingest_examples(data_dir)
    with running_server(data_dir, "--max-running", "1") as base:
        page = browser.new_page()
        with file_lock(DataDir(data_dir).files_lock):  # reports wait, and stay Running
            page.goto(f"{base}/")
            page.get_by_role("button", name="Trigger a report").click()
            page.wait_for_url("**/reports/*")
            assert page.locator(".state").first.inner_text() == "Running"
            page.goto(f"{base}/")
            with page.expect_response(f"{base}/") as refused:
                page.get_by_role("button", name="Trigger a report").click()
            assert refused.value.status == 429
            assert "reports are running" in page.locator(".problem").inner_text()
        page.close()


def test_a_new_empty_store_says_what_to_do_first(tmp_path: Path, browser: Browser) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with running_server(data_dir) as base:
        page = browser.new_page()
        response = page.goto(f"{base}/")
        assert response is not None
        assert response.status == 200
        assert "holds no data yet" in page.locator("main").inner_text()
        page.close()
