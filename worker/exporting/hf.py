"""The Hugging Face `datasets` layout: a DatasetDict saved with save_to_disk, built without copying rows."""

from __future__ import annotations

from pathlib import Path


def save_hf(arrow_files: dict[str, Path], out_dir: Path, fingerprint: str) -> None:
    """Memory-map each split's Arrow stream file and save the splits as one DatasetDict under out_dir.

    The fingerprint is derived from the rows' hashes, not from paths or time, so identical data gives
    identical state.json files and the whole folder is byte-identical across runs."""
    import datasets
    from datasets import Dataset, DatasetDict
    from datasets.table import MemoryMappedTable

    datasets.disable_progress_bars()
    splits = {
        split: Dataset(MemoryMappedTable.from_file(str(path)), split=split, fingerprint=f"{fingerprint}-{split}")
        for split, path in sorted(arrow_files.items())
    }
    DatasetDict(splits).save_to_disk(str(out_dir))
