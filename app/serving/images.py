"""Images in /v1 chat requests: every image_url part becomes a data: URL of checked bytes before the request is
forwarded, so the model server never fetches anything. Accepted: data: URLs, image ids, and the app's own image
URLs (/images/<id>, also absolute on this host). Remote URLs are refused, never fetched."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from app.images.decode import ImageRefused
from app.images.refs import SHA, decode_data
from app.images.service import check_bytes, file_of
from app.models import Image
from app.serving.errors import OpenAIError
from app.serving.schemas import ChatCompletionRequest

APP_IMAGE = re.compile(r"^/images/([0-9a-f]{64})(?:/thumbnail)?$")


def _refused(param: str, message: str) -> OpenAIError:
    return OpenAIError(400, f"{param}: {message}", param=param, code="invalid_image")


def _stored(session: Session, sha: str, param: str) -> bytes:
    image = session.get(Image, sha)
    if image is None:
        raise _refused(param, f"there is no stored image {sha}")
    return Path(file_of(image)[0]).read_bytes()


def _bytes_for(session: Session, url: str, host: str, param: str) -> bytes:
    if url[:5].lower() == "data:":
        return decode_data(url)
    if SHA.match(url.lower()):
        return _stored(session, url.lower(), param)
    parts = urlsplit(url)
    if parts.scheme and parts.scheme not in ("http", "https"):
        raise _refused(param, f"{parts.scheme}: URLs are not accepted; send a data: URL or an image id")
    if parts.scheme and parts.netloc.lower() != host.lower():
        raise _refused(param, "remote image URLs are never fetched; send the image as a data: URL, or upload it "
                              "(POST /api/v1/images) and send its id or /images/<id> URL")
    match = APP_IMAGE.match(parts.path)
    if match is None:
        raise _refused(param, "not an image of this app: send a data: URL, an image id or /images/<id>")
    return _stored(session, match.group(1), param)


def inline_images(session: Session, body: ChatCompletionRequest, host: str) -> ChatCompletionRequest:
    """The body with every image as a data: URL of bytes that passed the image checks; a 400 naming the part
    otherwise (unknown image, remote URL, corrupt file, decompression bomb, SVG, unsupported format)."""
    for m, message in enumerate(body.messages):
        if isinstance(message.content, str) or message.content is None:
            continue
        for p, part in enumerate(message.content):
            if part.type != "image_url":
                continue
            param = f"messages[{m}].content[{p}].image_url.url"
            try:
                data = _bytes_for(session, (part.image_url or {}).get("url", ""), host, param)
                info = check_bytes(data)
            except ImageRefused as exc:
                raise _refused(param, exc.message) from None
            part.image_url = {"url": f"data:{info.content_type};base64,{base64.b64encode(data).decode()}"}
    return body
