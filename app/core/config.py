"""One Settings class: every knob, read from the environment (TUNELOOP_*) or a .env file."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TUNELOOP_", env_file=".env", extra="ignore")

    data_dir: Path = Field(Path("var"), description="Where the SQLite files, exports, runs and models live.")
    database_url: str = Field("", description="SQLAlchemy URL; empty means SQLite under data_dir.")
    broker_url: str = Field("", description="Celery broker URL; empty means SQLite under data_dir.")
    secret_key: str = Field("", description="Signs session and CSRF cookies; generated and kept in data_dir.")
    admin_email: str = Field("", description="First admin, created at start-up when no admin exists.")
    admin_password: str = Field("", description="First admin's password; generated and printed once if empty.")
    cookie_secure: bool = Field(False, description="Send cookies over HTTPS only (set it behind TLS).")
    max_body_bytes: int = Field(64 * 1024 * 1024, description="Largest request body accepted (413 beyond).")
    max_batch_items: int = Field(5000, description="Most items one ingest request may carry.")
    max_text_chars: int = Field(200_000, description="Longest instruction, input or candidate text.")
    max_document_bytes: int = Field(50 * 1024 * 1024, gt=0, description="Largest document file accepted "
                                    "(uploads stream to disk and stop at this size, 413).")
    embedding_model_dir: str = Field("", description="A local sentence-embedding model directory; when set, "
                                     "the worker embeds passages for semantic search.")
    max_candidates: int = Field(64, description="Most candidates one instruction may carry.")
    login_rate_limit: str = Field("10/minute", description="Login attempts allowed per e-mail and per address.")
    worker_embedded: bool = Field(True, description="`serve` starts a worker in-process unless --no-worker.")
    health_worker_timeout_s: float = Field(5.0, description="How long health waits for a worker's answer.")
    reservation_minutes: int = Field(30, description="Default time an annotator holds a task.")
    annotation_concurrency: int = Field(
        1, ge=1, description="Annotation requests one web process works on at once; more wait their turn in order.")
    tuning_heartbeat_s: float = Field(5.0, description="How often a worker proves a training run is alive.")
    tuning_heartbeat_timeout_s: float = Field(60.0, description="Silence after which the reaper fails a run.")
    tuning_cancel_timeout_s: float = Field(60.0, description="How long cancel waits before killing the trainer.")
    job_heartbeat_s: float = Field(1.0, gt=0, description="How often a running job proves it is alive and "
                                   "checks for a cancel.")
    job_heartbeat_timeout_s: float = Field(60.0, gt=0, description="Silence after which the reaper fails a job.")
    tuning_reaper_interval_s: float = Field(30.0, description="How often each worker runs the reaper.")
    # The model server: local models served OpenAI-compatibly behind /v1 (worker/serving; never in the web process).
    model_server_url: str = Field("http://127.0.0.1:8001", description="Where the model server listens; `tuneloop "
                                  "serve` starts one there beside its workers.")
    model_server_timeout_s: float = Field(600.0, gt=0, description="How long /v1 waits for the model server's answer.")
    serving_max_models: int = Field(2, ge=1, description="Models the model server keeps loaded (least recently used "
                                    "goes first).")
    serving_engine: Literal["auto", "transformers", "vllm"] = Field(
        "auto", description="auto: vLLM where the package is installed and a GPU is present, else transformers.")
    serving_static_cache: Literal["auto", "on", "off"] = Field(
        "auto", description="Static KV cache (whole batches through generate); auto: on with a GPU.")
    serving_compile: Literal["auto", "on", "off"] = Field(
        "auto", description="torch.compile of decoding (with the static cache); auto: on with a GPU.")
    serving_dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="Weights' precision; auto: bfloat16 on a GPU that has it, else float32.")
    serving_max_batch_size: int = Field(0, ge=0, description="Sequences one model decodes together; 0: as many as "
                                        "free GPU memory holds, up to 512 (64 on a CPU).")
    serving_max_batch_tokens: int = Field(0, ge=0, description="KV cache cells (rows x tokens) a batch may hold; "
                                          "0: from free GPU memory (a fixed 1M cells on a CPU).")
    serving_max_padding: float = Field(0.3, ge=0, lt=1, description="Largest share of padding in a group of prompts "
                                       "prefilled together.")
    serving_default_max_tokens: int = Field(512, ge=1, description="Answer length for chat requests without "
                                            "max_tokens (never past the model's context).")
    embedding_model: str = Field("", description="Curation's default sentence-embedding model: the built-in "
                                 "all-MiniLM-L6-v2, a local model directory, or a backend's name; empty: "
                                 "embedding_model_dir if set, else the built-in one.")

    # Images on items (LLaVA-style visual instruction data): stored once by content hash under data_dir/images.
    image_root: Path | None = Field(None, description="Folder REST clients may name image paths under (relative "
                                    "to it); default data_dir/imports.")
    max_image_bytes: int = Field(20 * 1024 * 1024, ge=1024, description="Largest image file accepted.")
    max_image_pixels: int = Field(64_000_000, ge=1, description="Most pixels (width x height) an image may have; "
                                  "larger ones are refused as decompression bombs.")

    @model_validator(mode="after")
    def _fill_embedded_defaults(self) -> Settings:
        self.data_dir = self.data_dir.resolve()
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'tuneloop.db'}"
        if not self.broker_url:
            self.broker_url = f"sqla+sqlite:///{self.data_dir / 'broker.db'}"
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def ensure_dirs(self) -> None:
        for sub in ("", "exports", "runs", "models", "imports", "documents", "images"):
            (self.data_dir / sub).mkdir(parents=True, exist_ok=True)

    def resolved_secret_key(self) -> str:
        """The configured key, else one generated once and kept in data_dir so restarts keep sessions."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret_key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()


@lru_cache
def get_settings() -> Settings:
    return Settings()
