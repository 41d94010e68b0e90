"""Images through REST: upload (multipart, base64, a path under the image root), serving with the right headers,
items that carry images, and the <image> placeholder rules."""

from __future__ import annotations

import hashlib

from app.images.store import image_path, thumb_path
from tests.images.pictures import data_url, jpeg, png


def test_upload_then_serve_with_content_type_caching_and_access_control(client, reviewer_headers, make_user,
                                                                       token_for):
    data = png(mark="serve")
    resp = client.post("/api/v1/images", files=[("file", ("red.png", data, "image/png"))], headers=reviewer_headers)
    assert resp.status_code == 201, resp.text
    image = resp.json()["images"][0]
    assert image["id"] == hashlib.sha256(data).hexdigest()
    assert (image["format"], image["width"], image["height"], image["size_bytes"]) == ("png", 48, 32, len(data))
    got = client.get(image["url"], headers=reviewer_headers)
    assert got.status_code == 200 and got.content == data
    assert got.headers["content-type"] == "image/png"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert "immutable" in got.headers["cache-control"] and "private" in got.headers["cache-control"]
    again = client.get(image["url"], headers={**reviewer_headers, "If-None-Match": got.headers["etag"]})
    assert again.status_code == 304 and not again.content
    thumb = client.get(image["thumbnail_url"], headers=reviewer_headers)
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert thumb.content[:3] == b"\xff\xd8\xff"
    # Uploading the same bytes again stores nothing new: same id, one file.
    second = client.post("/api/v1/images", json={"data": data_url(data)}, headers=reviewer_headers)
    assert second.status_code == 201 and second.json()["images"][0]["id"] == image["id"]
    assert image_path(image["id"], "png").read_bytes() == data and thumb_path(image["id"]).is_file()
    # Anonymous callers get nothing; annotators may look (they annotate with the image beside them) but not upload.
    anonymous = client.get(image["url"], follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    assert client.get(f"/api/v1/images/{image['id']}").status_code == 401
    annotator = token_for(make_user("annotator"))
    assert client.get(image["url"], headers=annotator).content == data
    refused = client.post("/api/v1/images", json={"data": data_url(data)}, headers=annotator)
    assert refused.status_code == 403


def test_items_carry_images_by_data_id_and_path(ingest, client, project, reviewer_headers, image_root,
                                                admin_headers):
    by_id = png(mark="by-id")
    uploaded = client.post("/api/v1/images", files=[("file", ("a.png", by_id, "image/png"))],
                           headers=reviewer_headers).json()["images"][0]["id"]
    folder = image_root / "coco"
    folder.mkdir(exist_ok=True)
    (folder / "bus.jpg").write_bytes(jpeg())
    items = [
        {"external_id": "a", "instruction": "<image>\nWhat colour is the square?", "images": [uploaded],
         "candidates": [{"text": "White."}]},
        {"external_id": "b", "instruction": "Describe <image> briefly.", "images": [
            {"data": data_url(png(mark="inline")), "name": "inline/one.png", "captions": ["A red field."],
             "boxes": [{"label": "square", "bbox": [0.05, 0.1, 0.3, 0.45]}]}]},
        {"external_id": "c", "instruction": "<image>\nWhat vehicle?", "images": [{"path": "coco/bus.jpg"}]},
        {"external_id": "d", "instruction": "A text-only sample mixes in fine."},
    ]
    resp = ingest(items)
    assert resp.status_code == 200, resp.text
    ids = resp.json()["ids"]
    shown = [client.get(f"/api/v1/instructions/{i}", headers=reviewer_headers).json()["images"] for i in ids]
    assert shown[0][0]["id"] == uploaded and shown[0][0]["name"] == f"{uploaded}.png"
    assert shown[1][0]["name"] == "inline/one.png" and shown[1][0]["captions"] == ["A red field."]
    assert shown[1][0]["boxes"] == [{"label": "square", "bbox": [0.05, 0.1, 0.3, 0.45]}]
    assert shown[2][0]["name"] == "coco/bus.jpg" and shown[2][0]["url"].startswith("/images/")
    assert shown[3] == []
    # The same items again are unchanged (the image references resolve to the same stored entries).
    assert ingest(items).json()["unchanged"] == 4
    # An edit that breaks the placeholder rule is refused.
    patched = client.patch(f"/api/v1/instructions/{ids[0]}", json={"instruction": "No placeholder now"},
                           headers=reviewer_headers)
    assert patched.status_code == 422 and "exactly one <image> placeholder" in patched.json()["error"]["message"]
    # Lists show thumbnails.
    listing = client.get(f"/admin/instructions?project={project['slug']}", headers=admin_headers)
    assert f'src="/images/{uploaded}/thumbnail"' in listing.text


def test_placeholder_rules_name_the_item_and_turn(ingest):
    image = {"data": data_url(png(mark="rules"))}
    bad = [
        {"instruction": "No placeholder here.", "images": [image]},
        {"instruction": "<image> <image> two for one", "images": [image]},
        {"instruction": "<image> but no image"},
        {"instruction": "Follow-up", "images": [image], "history": [
            {"role": "user", "content": "First question"}, {"role": "assistant", "content": "An answer"}]},
        {"instruction": "<image>\nQ", "images": [image], "candidates": [{"text": "Answer <image>"}]},
        {"instruction": "<image>\nQ", "images": [image], "history": [
            {"role": "user", "content": "one"}, {"role": "user", "content": "two"}]},
    ]
    resp = ingest(bad)
    assert resp.status_code == 422
    details = resp.json()["error"]["details"]
    by_index = {}
    for d in details:
        by_index.setdefault(d["index"], []).append((d["field"], d["message"]))
    assert sorted(by_index) == [0, 1, 2, 3, 4, 5]
    assert by_index[0][0] == ("items[0].instruction", "the first user turn must hold exactly one <image> placeholder "
                                                      "for the image; it holds 0")
    assert "it holds 2" in by_index[1][0][1]
    assert "the item has no image" in by_index[2][0][1]
    # The first user turn of a conversation is its first history turn.
    assert by_index[3] == [("items[3].history[0].content", "the first user turn must hold exactly one <image> "
                                                           "placeholder for the image; it holds 0")]
    assert by_index[4][0][0] == "items[4].candidates[0].text" and "assistant turn" in by_index[4][0][1]
    assert any(f == "items[5].history[1].role" and "alternate" in m for f, m in by_index[5])
