"""Image upload bodies and answers."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ImageUpload(BaseModel):
    """JSON upload: the bytes (base64 or a data: URL) or a path under the configured image root."""

    model_config = ConfigDict(extra="forbid")

    data: str | None = Field(None, description="The image as base64, or as a data:image/...;base64, URL.")
    path: str | None = Field(None, max_length=1000, description="A file under the image root (TUNELOOP_IMAGE_ROOT), "
                                                               "relative to it.")


class ImageOut(BaseModel):
    id: str = Field(description="The sha256 of the image's bytes; items name the image by it.")
    format: str
    content_type: str
    width: int
    height: int
    size_bytes: int
    url: str
    thumbnail_url: str


class ImagesOut(BaseModel):
    images: list[ImageOut]
