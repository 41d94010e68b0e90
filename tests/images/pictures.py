"""Small images made here (never downloaded), and hostile ones: a decompression bomb, a corrupt file, SVG."""

from __future__ import annotations

import base64
import io
import struct
import zlib

from PIL import Image, ImageDraw


def png(colour: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (48, 32), mark: str = "") -> bytes:
    """A small PNG: a coloured field with a white square, `mark` making otherwise equal images differ."""
    img = Image.new("RGB", size, colour)
    draw = ImageDraw.Draw(img)
    draw.rectangle((4, 4, 14, 14), fill=(255, 255, 255))
    if mark:
        draw.text((18, 4), mark, fill=(0, 0, 0))
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def jpeg(colour: tuple[int, int, int] = (20, 90, 200), size: tuple[int, int] = (40, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "JPEG", quality=90)
    return out.getvalue()


def data_url(data: bytes, kind: str = "png") -> str:
    return f"data:image/{kind};base64," + base64.b64encode(data).decode()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_bomb(width: int = 20_000, height: int = 20_000) -> bytes:
    """A valid-looking PNG header announcing width x height pixels, in a few hundred bytes (a decompression bomb)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def corrupt() -> bytes:
    """A PNG cut off in the middle of its pixel data."""
    data = png(size=(64, 64), mark="x")
    return data[: len(data) // 2]


SVG_WITH_SCRIPT = (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
                   b'<script>alert(document.cookie)</script><rect width="10" height="10"/></svg>')


def bmp() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(out, "BMP")
    return out.getvalue()
