"""Worker round trips: the health check sends a ping task and waits for its row."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow


class WorkerPing(Base):
    __tablename__ = "worker_pings"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(200))
    answered_at: Mapped[datetime] = mapped_column(default=utcnow)
