"""A small LLaVA-Instruct-style file with its image folder, written as LLaVA's scripts write it."""

from __future__ import annotations

import json
from pathlib import Path

from tests.images.pictures import jpeg, png

ROWS = [
    {"id": "000000033471", "image": "coco/000000033471.jpg", "conversations": [
        {"from": "human", "value": "<image>\nWhat are the colors of the square in the image?"},
        {"from": "gpt", "value": "The square is white, on a red field."},
        {"from": "human", "value": "Where is the square?"},
        {"from": "gpt", "value": "Near the top left corner."}]},
    {"id": "000000052846", "image": "coco/000000052846.png", "conversations": [
        {"from": "human", "value": "Describe the image in detail, café included.\n<image>"},
        {"from": "gpt", "value": "A blue field with nothing else in it — a calm, empty scene."}]},
    {"id": "text-only-1", "conversations": [
        {"from": "human", "value": "Name a primary colour."}, {"from": "gpt", "value": "Red."}]},
    {"id": "two-images", "image": ["coco/000000033471.jpg", "coco/000000052846.png"], "conversations": [
        {"from": "human", "value": "<image>\n<image>\nWhich image is brighter?"},
        {"from": "gpt", "value": "The first one."}]},
]


def write_llava(folder: Path, rows: list[dict] | None = None) -> Path:
    """llava.json and coco/*.{jpg,png} under folder; answers the JSON file's path."""
    (folder / "coco").mkdir(parents=True, exist_ok=True)
    (folder / "coco" / "000000033471.jpg").write_bytes(jpeg(colour=(230, 40, 40), size=(64, 48)))
    (folder / "coco" / "000000052846.png").write_bytes(png(colour=(30, 60, 220), size=(40, 40), mark="b"))
    path = folder / "llava.json"
    with path.open("w") as out:
        json.dump(ROWS if rows is None else rows, out, indent=2)
    return path
