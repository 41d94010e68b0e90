"""Images that instructions show: each stored once under data_dir/images, named by the sha256 of its bytes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow


class Image(Base):
    __tablename__ = "images"

    # The sha256 of the file's bytes: the image's id everywhere (items, exports, URLs).
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    format: Mapped[str] = mapped_column(String(10))  # png, jpeg, webp, gif
    width: Mapped[int]
    height: Mapped[int]
    size_bytes: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
