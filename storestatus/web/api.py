"""The JSON/CSV endpoints: the same library calls as the CLI's commands, over HTTP.

``POST /trigger_report`` starts a report as ``storestatus trigger-report`` does (a detached
worker); ``GET /get_report`` polls it as ``get-report`` does; ``/reports``, ``/stores`` and
``/stores/{id}/explain`` are the ``reports``, ``stores`` and ``explain --json`` commands;
``POST /ingest`` is ``ingest`` on uploaded files. Errors are one line under ``detail``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Final, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, field_validator

from storestatus.durations import parse_duration
from storestatus.errors import StoreError, StoreStatusError
from storestatus.reports import (
    recent_reports,
    record_summary,
    report_csv,
    report_status,
    trigger_report,
)
from storestatus.summaries import ingest_line
from storestatus.timestamps import parse_instant
from storestatus.vocabulary import Interpolation
from storestatus.web.guards import same_origin
from storestatus.web.settings import ServiceSettings
from storestatus.web.uploads import receive_files, upload_folder

T = TypeVar("T")
RETRY_AFTER_SECONDS: Final = 5  # what a 429 or a Running report tells a client to wait


def instant(text: str | None) -> datetime | None:
    """``as_of`` as the CLI reads it (``timestamps.parse_instant``); a ValueError names why."""
    if text is None:
        return None
    try:
        return parse_instant(text)
    except StoreStatusError as error:
        raise ValueError(str(error)) from None


def duration(text: str | None) -> timedelta | None:
    """A duration as the CLI reads one (``30m``, ``1h30m``); a ValueError names why not."""
    if text is None:
        return None
    try:
        return parse_duration(text)
    except StoreStatusError as error:
        raise ValueError(str(error)) from None


def gap(text: str | None) -> timedelta | None:
    """``max_gap`` as the CLI reads it: a positive duration."""
    length = duration(text)
    if length is not None and not length:
        raise ValueError("must be longer than 0s (every instant would be unknown)")
    return length


class TriggerRequest(BaseModel):
    """The options of ``trigger-report``, all optional (issue #9's ``--detail``/``--max-gap``)."""

    model_config = ConfigDict(extra="forbid")

    as_of: str | None = None
    interpolation: Interpolation = "nearest"
    detail: bool = False
    max_gap: str | None = None

    @field_validator("as_of")
    @classmethod
    def _as_of(cls, value: str | None) -> str | None:
        instant(value)
        return value

    @field_validator("max_gap")
    @classmethod
    def _max_gap(cls, value: str | None) -> str | None:
        gap(value)
        return value


class ReportSlots:
    """How many reports this server has started that still run: at most ``limit`` (429 past
    it). Counted under a lock, so twenty triggers at once cannot all slip under the limit."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self._running: set[str] = set()
        self._lock = threading.Lock()

    def start(self, trigger: Callable[[], str]) -> str:
        with self._lock:
            self._running = {rid for rid in self._running if self._still_running(rid)}
            if len(self._running) >= self.settings.max_running:
                raise HTTPException(
                    status_code=429,
                    detail=f"{len(self._running)} reports are running, the most this server "
                    "runs at once; try again later",
                    headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
                )
            report_id = trigger()
            self._running.add(report_id)
            return report_id

    def _still_running(self, report_id: str) -> bool:
        try:
            return report_status(self.settings.data_dir, report_id).state == "Running"
        except StoreStatusError:
            return False


def wants_json(accept: str) -> bool:
    """Whether an ``Accept`` header prefers ``application/json`` to ``text/csv`` (the
    default: a report is a CSV)."""
    weights: dict[str, float] = {}
    for item in accept.split(","):
        media, *params = (part.strip() for part in item.split(";"))
        weight = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        weights[media.lower()] = max(weight, weights.get(media.lower(), 0.0))

    def weight_of(media: str) -> float:
        family = media.split("/", maxsplit=1)[0] + "/*"
        return weights.get(media, weights.get(family, weights.get("*/*", 0.0)))

    return weight_of("application/json") > weight_of("text/csv")


def api_router(settings: ServiceSettings, slots: ReportSlots) -> APIRouter:
    """The API's routes for one data directory (the caller adds the token check); ``slots``
    counts the reports this server runs, shared with the dashboard's button."""
    router = APIRouter()
    data_dir = settings.data_dir

    @router.post("/trigger_report", status_code=202, dependencies=[Depends(same_origin)])
    def trigger(body: TriggerRequest | None = None) -> JSONResponse:
        """Start a report; poll ``/get_report/{report_id}`` for it."""
        options = body or TriggerRequest()
        report_id = slots.start(
            lambda: trigger_report(
                data_dir,
                as_of=instant(options.as_of),
                interpolation=options.interpolation,
                detail=options.detail,
                max_gap=gap(options.max_gap),
            )
        )
        return JSONResponse(
            {"report_id": report_id},
            status_code=202,
            headers={"Location": f"/get_report/{report_id}"},
        )

    def poll(report_id: str, request: Request) -> Any:
        record = report_status(data_dir, report_id)
        if record.state == "Running":
            return JSONResponse(
                {"report_id": report_id, "status": "Running", "created_at": record.created_at},
                status_code=202,
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        if record.state == "Failed":
            return JSONResponse(
                {"report_id": report_id, "status": "Failed", "reason": record.error},
                status_code=500,
            )
        path = report_csv(data_dir, report_id)
        if not path.is_file():
            raise StoreError(f"the CSV of report {report_id} is gone from {path.parent}")
        if wants_json(request.headers.get("accept", "")):
            return {**record_summary(record), "csv_url": f"/get_report/{report_id}"}
        return FileResponse(
            path,
            media_type="text/csv",
            filename=f"storestatus-report-{report_id}.csv",
            headers={"X-Report-Status": "Complete"},
        )

    @router.get("/get_report", response_model=None)
    def get_report_by_query(report_id: str, request: Request) -> Any:
        """The report: ``Running`` (202), its CSV (200), or ``Failed`` (500)."""
        return poll(report_id, request)

    @router.get("/get_report/{report_id}", response_model=None)
    def get_report(report_id: str, request: Request) -> Any:
        """The report: ``Running`` (202), its CSV (200), or ``Failed`` (500)."""
        return poll(report_id, request)

    @router.get("/reports")
    def reports(limit: Annotated[int, Query(ge=1, le=1000)] = 20) -> dict[str, Any]:
        """The reports updated last, newest first (``storestatus reports``)."""
        return {
            "reports": [record_summary(record) for record in recent_reports(data_dir, limit=limit)]
        }

    @router.get("/stores")
    def stores(silent_for: str | None = None, as_of: str | None = None) -> dict[str, object]:
        """The known stores, or those silent for ``silent_for`` (``storestatus stores``)."""
        from storestatus.service import list_stores  # noqa: PLC0415
        from storestatus.store import Store  # noqa: PLC0415

        silence = _query(lambda: duration(silent_for), "silent_for")
        reference = _query(lambda: instant(as_of), "as_of")
        return list_stores(Store(data_dir), as_of=reference, silent_for=silence).as_json()

    @router.get("/stores/{store_id}/explain")
    def explain(
        store_id: str,
        as_of: str | None = None,
        interpolation: Interpolation = "nearest",
        max_gap: str | None = None,
    ) -> dict[str, object]:
        """How one store's report row comes about (``storestatus explain --json``)."""
        from storestatus.service import explain_store  # noqa: PLC0415
        from storestatus.store import Store  # noqa: PLC0415

        explanation = explain_store(
            Store(data_dir),
            store_id,
            as_of=_query(lambda: instant(as_of), "as_of"),
            interpolation=interpolation,
            max_gap=_query(lambda: gap(max_gap), "max_gap"),
        )
        return explanation.as_json()

    @router.post("/ingest", dependencies=[Depends(same_origin)])
    async def ingest(
        request: Request, allow_shrink: bool = False, max_future: str = "1h"
    ) -> dict[str, object]:
        """Ingest uploaded ``status``/``hours``/``timezones`` files, all or nothing."""
        from storestatus.service import ingest_files  # noqa: PLC0415
        from storestatus.store import Store  # noqa: PLC0415

        tolerance = _query(lambda: duration(max_future), "max_future")
        with upload_folder(data_dir) as folder:
            uploads = await receive_files(
                request.headers.get("content-type", ""), request.stream(), folder
            )
            results = await run_in_threadpool(
                lambda: ingest_files(
                    Store(data_dir, lock_timeout=settings.lock_timeout),
                    status=uploads.of("status"),
                    hours=uploads.single("hours"),
                    timezones=uploads.single("timezones"),
                    allow_shrink=allow_shrink,
                    max_future=tolerance,
                )
            )
        names = {upload.path: upload.client_name for upload in uploads.files}
        files = []
        for result in results:
            shown = replace(result, source=Path(names.get(result.source, result.source.name)))
            files.append(
                {
                    **{key: value for key, value in asdict(shown).items() if key != "source"},
                    "name": shown.source.name,
                    "rejects_file": None
                    if result.rejects_file is None
                    else str(result.rejects_file),
                    "summary": ingest_line(shown),
                }
            )
        return {"files": files}

    return router


def _query(parse: Callable[[], T], name: str) -> T:
    """A query parameter parsed as the CLI parses the option: a ValueError becomes a 422."""
    try:
        return parse()
    except ValueError as error:
        raise HTTPException(status_code=422, detail=f"{name}: {error}") from None
