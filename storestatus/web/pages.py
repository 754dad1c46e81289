"""The dashboard: three server-rendered pages (no JavaScript), charts as inline SVG.

- ``/``: the recent reports and a button that triggers one (a form: POST, then a redirect).
- ``/reports/{id}``: a report's overview (``storestatus.overview``), a histogram of uptime,
  the stores with the most downtime, the CSV; a Running report's page refreshes itself.
- ``/stores/{id}``: ``explain`` as a picture: the week hour by hour, the figures, the polls.

Every chart has a text equivalent next to it (its ``<desc>`` and a table of its numbers).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, cast, get_args
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from storestatus import charts
from storestatus.charts import STATE_COLOURS
from storestatus.errors import ReportNotFoundError, StoreNotFoundError, StoreStatusError
from storestatus.reports import recent_reports, report_csv, report_status, running_time
from storestatus.vocabulary import Interpolation
from storestatus.web.api import ReportSlots, gap, instant
from storestatus.web.guards import same_origin
from storestatus.web.settings import ServiceSettings

REFRESH_SECONDS: Final = 3  # a Running report's page reloads itself this often


def page_router(settings: ServiceSettings, slots: ReportSlots) -> APIRouter:
    """The dashboard's routes for one data directory (the caller adds the token check)."""
    router = APIRouter(include_in_schema=False)
    templates = Environment(
        loader=PackageLoader("storestatus.web", "templates"),
        autoescape=select_autoescape(default=True),
    )
    templates.filters["when"] = _when
    templates.globals["store_url"] = store_url
    data_dir = settings.data_dir

    def render(
        name: str, status_code: int = 200, headers: Mapping[str, str] | None = None, **context: Any
    ) -> HTMLResponse:
        page = templates.get_template(name).render(**context)
        return HTMLResponse(page, status_code, headers=headers)

    def problem(error: StoreStatusError) -> HTMLResponse:
        missing = isinstance(error, ReportNotFoundError | StoreNotFoundError)
        code = 404 if missing else 503
        # The CLI's message names the reports folder; a visitor needs no server path.
        shown = "unknown report id" if isinstance(error, ReportNotFoundError) else error
        return render("problem.html", code, title="Not found" if missing else "Error", error=shown)

    @router.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        if not data_dir.exists():  # a new store: nothing ingested yet
            return render("index.html", title="Reports", rows=[], empty=True)
        try:
            records = recent_reports(data_dir, limit=25)
        except StoreStatusError as error:
            return problem(error)
        rows = [(record, running_time(record)) for record in records]
        return render("index.html", title="Reports", rows=rows)

    @router.post("/", dependencies=[Depends(same_origin)], response_model=None)
    def trigger() -> RedirectResponse | HTMLResponse:
        """The button: start a report with the defaults, then show its page (303: a reload
        of that page does not trigger another). Refused: a page that says why."""
        from storestatus.reports import trigger_report  # noqa: PLC0415

        try:
            report_id = slots.start(lambda: trigger_report(data_dir))
        except StoreStatusError as error:
            return problem(error)
        except HTTPException as refused:  # too many reports running
            return render(
                "problem.html",
                refused.status_code,
                title="Not now",
                error=refused.detail,
                headers=refused.headers,
            )
        return RedirectResponse(f"/reports/{report_id}", status_code=303)

    @router.get("/reports/{report_id}", response_class=HTMLResponse)
    def report(report_id: str) -> HTMLResponse:
        try:
            record = report_status(data_dir, report_id)
        except StoreStatusError as error:
            return problem(error)
        context: dict[str, Any] = {"title": f"Report {report_id}", "record": record}
        if record.state == "Running":
            context["refresh"] = REFRESH_SECONDS
        if record.state == "Complete":
            context |= _report_figures(report_csv(data_dir, report_id))
        return render("report.html", took=running_time(record), **context)

    @router.get("/stores/{store_id}", response_class=HTMLResponse)
    def store(
        store_id: str,
        as_of: str | None = None,
        interpolation: str = "nearest",
        max_gap: str | None = None,
    ) -> HTMLResponse:
        from storestatus.service import explain_store  # noqa: PLC0415
        from storestatus.store import Store  # noqa: PLC0415

        try:
            if interpolation not in get_args(Interpolation):
                raise ValueError(f"interpolation: {interpolation!r} is not nearest or previous")
            explanation = explain_store(
                Store(data_dir),
                store_id,
                as_of=instant(as_of),
                interpolation=cast(Interpolation, interpolation),
                max_gap=gap(max_gap),
            )
        except StoreStatusError as error:
            return problem(error)
        except ValueError as error:
            return render("problem.html", 422, title="Bad request", error=error)
        rows = [(f"{day:%a %Y-%m-%d}", cells) for day, cells in explanation.timeline()]
        hours = dict.fromkeys(STATE_COLOURS, 0)
        for _, cells in rows:
            for cell in cells:
                if cell is not None:
                    hours[cell] += 1
        timeline = charts.timeline(
            rows,
            states=STATE_COLOURS,
            title=f"Store {store_id}: the last week hour by hour, local time "
            f"({explanation.timezone})",
            chart_id="timeline",
        )
        return render(
            "store.html",
            title=f"Store {store_id}",
            explanation=explanation,
            timeline=timeline,
            hours_per_state=hours,
            colours=STATE_COLOURS,
        )

    return router


def _report_figures(csv_path: Path) -> dict[str, Any]:
    """The report page's figures and charts, from the report's CSV."""
    import polars as pl  # noqa: PLC0415

    from storestatus.overview import PERCENT_EDGES, report_overview  # noqa: PLC0415

    columns = ["store_id", "uptime_last_week", "downtime_last_week"]  # of a report's columns
    report = pl.read_csv(csv_path, columns=columns, schema_overrides={"store_id": pl.String})
    overview = report_overview(report)
    counts = overview.uptime_histogram
    bins = [
        (f"{low:.0f} to {high:.0f} %", count)
        for low, high, count in zip(PERCENT_EDGES, PERCENT_EDGES[1:], counts, strict=False)
    ]
    histogram = charts.histogram(
        counts,
        PERCENT_EDGES,
        title="Stores by uptime last week (% of known business time)",
        x_label="uptime last week, %",
        y_label="stores",
        chart_id="uptime-histogram",
    )
    worst = charts.bars(
        overview.most_downtime,
        title=f"The {len(overview.most_downtime)} stores with the most downtime last week",
        unit="h",
        chart_id="most-downtime",
        href=store_url,
    )
    return {"overview": overview, "bins": bins, "histogram": histogram, "worst": worst}


def store_url(store_id: str) -> str:
    """The store page's address: the id percent-encoded (any text can be an id)."""
    return "/stores/" + quote(store_id, safe="")


def _when(text: str | datetime | None) -> str:
    """An ISO instant as a person reads it: ``2023-01-25 01:26 UTC``."""
    if text is None:
        return "-"
    moment = datetime.fromisoformat(text) if isinstance(text, str) else text
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
