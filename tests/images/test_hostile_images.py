"""Hostile images are refused with a clear message, and nothing is stored half-way or read outside the root."""

from __future__ import annotations

import hashlib

from sqlalchemy import func, select

from app.images.store import image_path, thumb_path
from app.models import Image
from tests.images.pictures import SVG_WITH_SCRIPT, bmp, corrupt, data_url, png, png_bomb

HOSTILE = {
    "corrupt": (corrupt, "corrupt or truncated"),
    "bomb": (png_bomb, "20,000 x 20,000 pixels"),
    "svg": (lambda: SVG_WITH_SCRIPT, "SVG images are refused"),
    "bmp": (bmp, "not an image in a supported format"),
    "empty": (lambda: b"", "empty"),
}


def test_hostile_uploads_are_refused(client, reviewer_headers, db):
    before = db.scalar(select(func.count()).select_from(Image))
    for name, (make, message) in HOSTILE.items():
        data = make()
        multipart = client.post("/api/v1/images", files=[("file", ("x.png", data, "image/png"))],
                                headers=reviewer_headers)
        assert multipart.status_code == 422, (name, multipart.text)
        assert message in multipart.json()["error"]["message"], name
        if data:
            as_json = client.post("/api/v1/images", json={"data": data_url(data)}, headers=reviewer_headers)
            assert as_json.status_code == 422 and message in as_json.json()["error"]["details"][0]["message"], name
        assert not image_path(hashlib.sha256(data).hexdigest(), "png").exists(), name
    assert db.scalar(select(func.count()).select_from(Image)) == before


def test_a_bad_image_refuses_the_whole_batch_and_removes_what_was_stored(ingest, db):
    good = png(mark="half-way")
    sha = hashlib.sha256(good).hexdigest()
    resp = ingest([{"instruction": "<image>\nFine", "images": [{"data": data_url(good)}]},
                   {"instruction": "<image>\nBomb", "images": [{"data": data_url(png_bomb())}]}])
    assert resp.status_code == 422
    detail = resp.json()["error"]["details"][0]
    assert detail["field"] == "items[1].images[0]" and "decompression bomb" in detail["message"]
    assert db.get(Image, sha) is None
    assert not image_path(sha, "png").exists() and not thumb_path(sha).exists()


def test_paths_outside_the_image_root_are_never_read(ingest, client, reviewer_headers, image_root, tmp_path):
    outside = tmp_path / "secret.png"
    outside.write_bytes(png(mark="secret"))
    (image_root / "link.png").unlink(missing_ok=True)
    (image_root / "link.png").symlink_to(outside)
    for path, message in (("../secret.png", "may not contain '..'"), (str(outside), "relative path"),
                          ("link.png", "lies outside the image folder"), ("missing.png", "no image file")):
        resp = client.post("/api/v1/images", json={"path": path}, headers=reviewer_headers)
        assert resp.status_code == 422 and message in resp.json()["error"]["message"], (path, resp.text)
        item = ingest([{"instruction": "<image>\nQ", "images": [{"path": path}]}])
        assert item.status_code == 422 and message in item.json()["error"]["details"][0]["message"]
    assert not image_path(hashlib.sha256(outside.read_bytes()).hexdigest(), "png").exists()
