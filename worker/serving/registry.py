"""Served names to loaded engines: the database says what a name means, an LRU keeps the last few loaded."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
from collections import OrderedDict
from typing import Any

import anyio

from app.core.db import get_sessionmaker
from app.serving.errors import OpenAIError
from app.serving.service import Weights, weights_for
from worker.serving.settings import EngineSettings

logger = logging.getLogger("tuneloop.serving")


class Registry:
    def __init__(self, settings: EngineSettings, capacity: int) -> None:
        self.settings = settings
        self.capacity = capacity
        self._engines: OrderedDict[Weights, Any] = OrderedDict()
        self._names: dict[Weights, set[str]] = {}
        self._locks: dict[Weights, asyncio.Lock] = {}
        self._resolved = None
        self._warming: threading.Thread | None = None

    def warm_up(self) -> None:
        """Import torch and transformers in the background, so the first request does not also wait for that."""
        self._warming = threading.Thread(target=_import_stack, name="warm-imports", daemon=True)
        self._warming.start()

    @staticmethod
    def _weights(name: str) -> Weights:
        with get_sessionmaker()() as session:
            return weights_for(session, name)

    async def engine(self, name: str) -> Any:
        """The engine serving `name`, loaded on first use (other requests for it wait for that one load)."""
        weights = await anyio.to_thread.run_sync(self._weights, name)
        lock = self._locks.setdefault(weights, asyncio.Lock())
        async with lock:
            engine = self._engines.get(weights)
            if engine is None:
                engine = await anyio.to_thread.run_sync(self._load, name, weights)
                self._engines[weights] = engine
            self._engines.move_to_end(weights)
            self._names.setdefault(weights, set()).add(name)
        self._evict()
        return engine

    def _load(self, name: str, weights: Weights) -> Any:
        from worker.serving.loading import ModelSource
        from worker.serving.params import LoadError
        from worker.serving.settings import resolve

        if self._warming is not None:
            # Two threads importing transformers at once can see it half initialised: let the warm-up finish.
            self._warming.join()
        if self._resolved is None:
            self._resolved = resolve(self.settings)
        source = ModelSource(model=weights.model, adapter=weights.adapter)
        logger.info("serving: loading %s for '%s'", source.describe(), name)
        try:
            if self._resolved.engine == "vllm" and not _encoder_decoder(source.model):
                from worker.serving.vllm_engine import VllmEngine

                return VllmEngine(source, self._resolved)
            from worker.serving.engine import LocalEngine
            from worker.serving.loading import load

            loaded = load(source, self._resolved)
            if loaded.family == "vision":
                from worker.serving.vision_engine import VisionEngine

                return VisionEngine(loaded, self._resolved)
            if loaded.family == "seq2seq":
                from worker.serving.seq2seq_engine import Seq2SeqEngine

                return Seq2SeqEngine(loaded, self._resolved)
            return LocalEngine(loaded, self._resolved)
        except LoadError as exc:
            raise OpenAIError(404, f"The model '{name}' could not be loaded: {exc}", param="model",
                              code="model_not_loadable") from exc

    def _evict(self) -> None:
        """Unload the least recently used idle engines beyond capacity (a busy one stays until it is idle)."""
        unloaded = False
        for weights in list(self._engines)[:-self.capacity] if len(self._engines) > self.capacity else []:
            engine = self._engines[weights]
            if engine.busy():
                continue
            del self._engines[weights]
            self._names.pop(weights, None)
            engine.close()
            unloaded = True
            logger.info("serving: unloaded %s", weights.model)
        if unloaded:
            gc.collect()
            _free_gpu_cache()

    def stats(self) -> list[dict[str, Any]]:
        return [{"names": sorted(self._names.get(w, ())), "model": w.model, "adapter": w.adapter, **e.describe()}
                for w, e in self._engines.items()]

    def close(self) -> None:
        for engine in self._engines.values():
            engine.close()
        self._engines.clear()


def _encoder_decoder(model: str) -> bool:
    """Whether the model is an encoder-decoder: those are served by our own engine even where vLLM is on, since
    vLLM's engine serves decoder-only models. A config that cannot be read is left to vLLM to report."""
    from worker.training.errors import ConfigError
    from worker.training.modeling import is_encoder_decoder

    try:
        return is_encoder_decoder(model)
    except ConfigError:
        return False


def _import_stack() -> None:
    import torch  # noqa: F401
    import transformers  # noqa: F401
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer  # noqa: F401


def _free_gpu_cache() -> None:
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
