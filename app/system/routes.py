"""GET /api/v1/health."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from app.core.db import get_sessionmaker
from app.system import service

router = APIRouter(prefix="/api/v1", tags=["system"])


class HealthOut(BaseModel):
    status: str
    database: str
    broker: str


@router.get("/health", response_model=HealthOut, responses={503: {"model": HealthOut}})
async def health() -> JSONResponse:
    """Database and broker checked for real: 200 when both answer, 503 naming the part that is down."""
    factory = get_sessionmaker()

    def _db() -> str:
        with factory() as session:
            return service.check_database(session)

    database = await run_in_threadpool(_db)
    if database == "ok":
        broker = await run_in_threadpool(service.check_broker, factory)
    else:
        # The worker answers by writing a row: with the database down the round trip cannot be observed.
        broker = "unknown: the worker's answer is written to the database, which is down"
    ok = database == "ok" and broker == "ok"
    body = HealthOut(status="ok" if ok else "unavailable", database=database, broker=broker)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)
