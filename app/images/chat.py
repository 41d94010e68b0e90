"""Conversations about images as OpenAI chat messages: each <image> placeholder becomes an image_url part where it
stood, naming the stored image by its app URL (/images/<id>); the backend client inlines those as data: URLs when
it sends, so stored job items stay small and the same question keeps the same request hash."""

from __future__ import annotations

import base64
import copy
import re
from pathlib import Path
from typing import Any

from app.images.conversation import PLACEHOLDER
from app.images.decode import CONTENT_TYPES
from app.images.store import images_dir

APP_URL = re.compile(r"^/images/([0-9a-f]{64})$")


def _parts(text: str, images: list[str]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for n, piece in enumerate(text.split(PLACEHOLDER)):
        if n and images:
            parts.append({"type": "image_url", "image_url": {"url": images.pop(0)}})
        if piece.strip():
            parts.append({"type": "text", "text": piece.strip("\n")})
    return parts


def with_images(messages: list[dict[str, Any]], image_entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`messages` with the images put into the user turns at their placeholders (unchanged without images)."""
    if not image_entries:
        return messages
    urls = [f"/images/{entry['id']}" for entry in image_entries]
    out = []
    for message in messages:
        if message["role"] == "user" and isinstance(message["content"], str) and PLACEHOLDER in message["content"]:
            message = {**message, "content": _parts(message["content"], urls)}
        out.append(message)
    return out


def _data_url(sha: str) -> str:
    found = sorted((images_dir() / sha[:2]).glob(f"{sha}.*"))
    if not found:
        raise FileNotFoundError(f"image {sha} is missing from the image store")
    fmt = {"jpg": "jpeg"}.get(found[0].suffix[1:], found[0].suffix[1:])
    return f"data:{CONTENT_TYPES.get(fmt, 'image/png')};base64,{base64.b64encode(Path(found[0]).read_bytes()).decode()}"


def inline_app_images(body: dict[str, Any]) -> dict[str, Any]:
    """A request body whose /images/<id> URLs are replaced by data: URLs of the stored bytes (a copy)."""
    messages = body.get("messages")
    if not messages or not any(isinstance(m.get("content"), list) for m in messages):
        return body
    body = copy.deepcopy(body)
    for message in body["messages"]:
        for part in message["content"] if isinstance(message.get("content"), list) else []:
            match = APP_URL.match((part.get("image_url") or {}).get("url") or "") if part.get("type") == \
                "image_url" else None
            if match:
                part["image_url"] = {"url": _data_url(match.group(1))}
    return body
