"""The web application: create_app() wires settings, middleware, routers and error handlers."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from app import __version__
from app.core.config import get_settings
from app.core.errors import install_error_handlers
from app.core.middleware import BodyLimitMiddleware, CSRFMiddleware
from app.users.deps import LoginRequired

STATIC_DIR = Path(__file__).resolve().parent / "static"
SESSION_MAX_AGE_S = 14 * 24 * 3600


# Every feature's router, by module; each module exposes `router`. Pages come after the API.
ROUTER_MODULES = [
    "app.system.routes",
    "app.users.api",
    "app.projects.routes",
    "app.instructions.routes",
    "app.users.routes",
    "app.annotation.api",
    "app.annotation.routes",
    "app.annotation.pairwise_routes",
    "app.review.api",
    "app.review.routes",
    "app.admin.routes",
    "app.exports.routes",
    "app.exports.pages",
    "app.tuning.routes",
    "app.tuning.pages",
    "app.generations.routes",
    "app.jobs.routes",
    "app.jobs.pages",
    "app.self_instruct.routes",
    "app.serving.routes",
    "app.documents.routes",
    "app.documents.pages",
    "app.evaluation.routes",
    "app.evaluation.pages",
    "app.backends.routes",
    "app.backends.pages",
    "app.curation.routes",
    "app.curation.pages",
    "app.curation.ablation_pages",
    "app.datasets.routes",
    "app.prompts.routes",
    "app.datasets.pages",
    "app.prompts.pages",
    "app.flan.pages",
]


def _routers():
    # Imported here so `import app.main` stays cheap for the CLI.
    import importlib

    return [importlib.import_module(name).router for name in ROUTER_MODULES]


@asynccontextmanager
async def lifespan(_app: FastAPI):
    get_settings().ensure_dirs()
    yield


def create_app() -> FastAPI:
    settings = get_settings()
    settings.ensure_dirs()
    app = FastAPI(
        title="Tuneloop",
        version=__version__,
        description="Turn human feedback into instruction-tuned models. REST API v1.",
        lifespan=lifespan,
    )
    install_error_handlers(app)

    @app.exception_handler(LoginRequired)
    async def _to_login(request: Request, exc: LoginRequired):
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)

    for router in _routers():
        app.include_router(router)

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        # Browsers ask for it on every site (and for JSON pages, which carry no <link rel="icon">).
        return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml",
                            headers={"Cache-Control": "public, max-age=86400"})
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    secret = settings.resolved_secret_key()
    # Order: the last added runs first. Body limit outermost, then CSRF (which reads form bodies), then sessions.
    app.add_middleware(SessionMiddleware, secret_key=secret, session_cookie="tuneloop_session",
                       max_age=SESSION_MAX_AGE_S, same_site="lax", https_only=settings.cookie_secure)
    app.add_middleware(CSRFMiddleware, secret=secret, secure=settings.cookie_secure)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    logging.getLogger("tuneloop").setLevel(logging.INFO)
    return app
