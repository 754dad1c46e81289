"""``create_app``: the service's routes, guards and error responses for one data directory."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from storestatus import __version__
from storestatus.errors import (
    InputError,
    ReportNotFoundError,
    StoreError,
    StoreNotFoundError,
    StoreStatusError,
)
from storestatus.web.api import ReportSlots, api_router
from storestatus.web.guards import CHALLENGES, BodyLimit, UnauthorizedError, token_checker
from storestatus.web.pages import page_router
from storestatus.web.settings import ServiceSettings

# How the library's one-line errors map to HTTP (the CLI maps them to exit codes).
_STATUS_OF_ERROR: tuple[tuple[type[StoreStatusError], int], ...] = (
    (ReportNotFoundError, 404),
    (StoreNotFoundError, 404),
    (InputError, 422),
    (StoreError, 503),  # the data directory cannot be read or written now (busy writer, disk)
)


def create_app(settings: ServiceSettings) -> FastAPI:
    """The ASGI app ``storestatus serve`` runs (``uvicorn``), and tests start."""
    app = FastAPI(
        title="storestatus",
        version=__version__,
        summary="Store uptime and downtime in business hours: trigger a report, poll for it.",
        docs_url=None,  # the interactive docs load their scripts from a CDN: not here
        redoc_url=None,
        openapi_url=None,  # served below, behind the token like everything but /healthz
    )
    guarded = [Depends(token_checker(settings.token))]
    slots = ReportSlots(settings)
    app.include_router(api_router(settings, slots), dependencies=guarded)
    app.include_router(page_router(settings, slots), dependencies=guarded)

    @app.get("/openapi.json", include_in_schema=False, dependencies=guarded)
    def openapi() -> dict[str, Any]:
        return app.openapi()

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        """Liveness, for a load balancer or a supervisor: no token needed, nothing read."""
        return {"status": "ok", "version": __version__}

    @app.exception_handler(StoreStatusError)
    async def one_line(_: Request, error: Exception) -> JSONResponse:
        status = next((code for kind, code in _STATUS_OF_ERROR if isinstance(error, kind)), 400)
        headers = {"Retry-After": "5"} if status == 503 else None
        # The CLI's message names the reports folder; a client needs no server path.
        detail = "unknown report id" if isinstance(error, ReportNotFoundError) else str(error)
        return JSONResponse({"detail": detail}, status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: Exception) -> JSONResponse:
        """A bad option or body: which field and why, without echoing the input back (FastAPI's
        own answer does, and fails with a 500 on bytes that are not UTF-8)."""
        assert isinstance(error, RequestValidationError)
        fields = [
            {
                "loc": list(item.get("loc", ())),
                "msg": str(item.get("msg", "")),
                "type": item["type"],
            }
            for item in error.errors()
        ]
        return JSONResponse({"detail": fields}, status_code=422)

    @app.exception_handler(UnauthorizedError)
    async def unauthorized(_: Request, error: Exception) -> JSONResponse:
        response = JSONResponse({"detail": str(error)}, status_code=401)
        for challenge in CHALLENGES:  # Basic: a browser asks a person for the token
            response.headers.append("WWW-Authenticate", challenge)
        return response

    app.add_middleware(
        BodyLimit,
        max_upload=settings.max_upload_bytes,
        max_body=settings.max_body_bytes,
    )
    return app
