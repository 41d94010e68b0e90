"""LLaVA data uploaded on the admin page as one .zip: unpacked safely beside its images, then imported."""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select

from app.admin.imports_service import start_import
from app.core.errors import ValidationFailed
from app.imports.service import import_file
from app.models import Instruction, Project
from tests.images.llava_files import write_llava


def _zip(files: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return out.getvalue()


@pytest.fixture
def setup(db, make_user, tmp_path):
    project = Project(name="Zip", slug="zip-import")
    db.add(project)
    db.flush()
    folder = tmp_path / "llava"
    write_llava(folder)
    files = {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    return project, make_user("admin"), files


def test_a_zip_of_llava_json_and_images_imports_with_its_images(db, setup):
    project, admin, files = setup
    job = start_import(db, project_slug=project.slug, fmt="llava", upload_name="llava.zip",
                       upload=io.BytesIO(_zip(files)), server_path="", by=admin)
    assert Path(job.path).name == "llava.json" and (Path(job.path).parent / "coco" / "000000052846.png").is_file()
    result = import_file(db, project=project, path=job.path, fmt=job.format)
    assert result.created == 4
    images = [i.images for i in db.scalars(select(Instruction).where(Instruction.project_id == project.id)
                                           .order_by(Instruction.id))]
    assert images[0][0]["name"] == "coco/000000033471.jpg" and len(images[3]) == 2


def test_unsafe_or_ambiguous_archives_are_refused_and_leave_nothing(tmp_path):
    from app.images.archives import unpack

    folder = tmp_path / "llava"
    write_llava(folder)
    files = {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    cases = [(_zip({**files, "../evil.json": b"[]"}), "unsafe path"),
             (_zip({**files, "/abs/evil.png": b"x"}), "unsafe path"),
             (_zip(files, links={"coco/link.png": "/etc/passwd"}), "link"),
             (_zip({**files, "second.jsonl": b"{}"}), "exactly one"),
             (b"PK\x03\x04 not really a zip", "not a readable .zip")]
    for n, (data, message) in enumerate(cases):
        archive = tmp_path / f"upload-{n}.zip"
        archive.write_bytes(data)
        with pytest.raises(ValidationFailed) as caught:
            unpack(archive, tmp_path / f"unpacked-{n}")
        assert message in caught.value.message
        assert not (tmp_path / f"unpacked-{n}").exists()
    assert not (tmp_path.parent / "evil.json").exists()
