"""Large batches by free memory: the engine's batch on a GPU is bounded by the KV cache that free memory holds."""

from __future__ import annotations

from types import SimpleNamespace

GIB = 2**30
# TinyLlama-1.1B's attention: 22 layers, 4 key/value heads of 64 (bf16: 22.5 KiB per cached token of a row).
TINYLLAMA = SimpleNamespace(num_hidden_layers=22, num_attention_heads=32, num_key_value_heads=4, hidden_size=2048)


def test_batch_size_auto_is_large_on_a_gpu_and_64_on_a_cpu() -> None:
    from worker.serving.settings import EngineSettings, resolve

    cpu = resolve(EngineSettings())
    assert cpu.max_batch_size == 64 and cpu.describe()["max_batch_size"] == 64
    gpu = resolve(EngineSettings(device="cuda", dtype="bfloat16"))
    assert (gpu.max_batch_size, gpu.static_cache, gpu.compile) == (512, True, True)
    assert resolve(EngineSettings(max_batch_size=96)).max_batch_size == 96  # a number is kept as given


def test_kv_cells_from_free_memory_bound_the_rows() -> None:
    from worker.serving.engine import kv_cells

    row = 720 + 128  # the longest benchmark prompt and its 128 new tokens
    h200 = kv_cells(120 * GIB, TINYLLAMA, itemsize=2, fraction=0.85)
    assert h200 // row >= 512  # 512 rows of the generation benchmark fit many times over
    small = kv_cells(8 * GIB, TINYLLAMA, itemsize=2, fraction=0.85)
    assert 300 <= small // row < 512  # an 8 GB card holds fewer rows: the batch shrinks to what fits
    assert kv_cells(0, TINYLLAMA, itemsize=2, fraction=0.85) == 4096  # never below a floor
