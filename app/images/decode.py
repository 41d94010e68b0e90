"""Decode untrusted image bytes safely: known raster formats only, bounded size and pixels, fully decoded once.

Pillow opens lazily (the header only), so the pixel count is checked before any pixel is decoded: a 20,000 x
20,000 PNG of a few kilobytes (a decompression bomb) is refused without allocating its 400 megapixels. SVG is XML
that can carry scripts and is never accepted; nor is any format outside FORMATS.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

# Pillow format name -> (our name and file extension, content type)
FORMATS = {"PNG": ("png", "image/png"), "JPEG": ("jpeg", "image/jpeg"), "WEBP": ("webp", "image/webp"),
           "GIF": ("gif", "image/gif")}
EXTENSIONS = {"png": "png", "jpeg": "jpg", "webp": "webp", "gif": "gif"}
CONTENT_TYPES = {name: content_type for name, content_type in FORMATS.values()}
SUPPORTED = "PNG, JPEG, WebP or GIF"


class ImageRefused(ValueError):
    """Bytes that are not an image we accept; the message says why in a user's words."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class ImageInfo:
    format: str  # png, jpeg, webp, gif
    width: int
    height: int
    size_bytes: int

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.format]


def _looks_like_svg(data: bytes) -> bool:
    head = data[:4096].lstrip().lower()
    return head.startswith((b"<?xml", b"<svg", b"<!doctype svg")) or b"<svg" in head


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MiB"


def inspect_image(data: bytes, *, max_bytes: int, max_pixels: int) -> ImageInfo:
    """What the bytes are, after decoding every pixel once; ImageRefused saying why when they are not acceptable."""
    if not data:
        raise ImageRefused("the image is empty (0 bytes)")
    if len(data) > max_bytes:
        raise ImageRefused(f"the image is {_mib(len(data))}; at most {_mib(max_bytes)} is accepted")
    if _looks_like_svg(data):
        raise ImageRefused(f"SVG images are refused (SVG is XML that can carry scripts); send {SUPPORTED}")
    # Pillow's own bomb check stays as a second line behind ours, set loose enough that ours (which names the size)
    # speaks first; both look at the header only, before any pixel is decoded.
    Image.MAX_IMAGE_PIXELS = max_pixels * 8
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=list(FORMATS)) as img:
                width, height, fmt = img.width, img.height, img.format
                _check_pixels(width, height, max_pixels)
                img.verify()  # structure and checksums (PNG); verify() leaves the image unusable
            with Image.open(io.BytesIO(data), formats=list(FORMATS)) as img:
                img.load()  # every pixel: a truncated or corrupt file fails here, not later in a trainer
    except ImageRefused:
        raise
    except UnidentifiedImageError:
        raise ImageRefused(f"not an image in a supported format; send {SUPPORTED}") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRefused(f"the image has more than {max_pixels:,} pixels; refused as a possible decompression "
                           "bomb") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError) as exc:  # what broken files raise
        raise ImageRefused(f"the image is corrupt or truncated ({exc})") from None
    if fmt not in FORMATS:
        raise ImageRefused(f"{fmt} images are not supported; send {SUPPORTED}")
    return ImageInfo(format=FORMATS[fmt][0], width=width, height=height, size_bytes=len(data))


def _check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        raise ImageRefused(f"the image has no pixels ({width} x {height})")
    if width * height > max_pixels:
        raise ImageRefused(f"the image is {width:,} x {height:,} pixels ({width * height:,}); at most "
                           f"{max_pixels:,} are accepted (refused as a possible decompression bomb)")


def thumbnail(data: bytes, size: int = 256) -> bytes:
    """A JPEG of at most size x size pixels, upright (EXIF orientation applied), on white where transparent."""
    from PIL import ImageOps

    with Image.open(io.BytesIO(data), formats=list(FORMATS)) as img:
        img.seek(0)
        frame = ImageOps.exif_transpose(img.convert("RGBA"))
        frame.thumbnail((size, size))
        flat = Image.new("RGB", frame.size, (255, 255, 255))
        flat.paste(frame, mask=frame.getchannel("A"))
    out = io.BytesIO()
    flat.save(out, "JPEG", quality=82, optimize=True)
    return out.getvalue()
