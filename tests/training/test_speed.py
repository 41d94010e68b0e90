"""Speed switches: packed attention without a dense mask, the micro-batch from free memory, fallbacks with reasons.

Each switch must leave the results alone: the same loss curve on the same seed within float noise. What needs a GPU
(FlashAttention varlen, Liger Kernel, compiled layers) is checked by scripts/gpu_bench.sh on one."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from tests.training.conftest import sum_messages, write_jsonl

GIB = 2**30


def _small_gqa_llama():
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=300, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=8, num_key_value_heads=2, max_position_embeddings=256)
    return LlamaForCausalLM(config)


def test_varlen_attention_keeps_samples_apart_and_matches_the_block_mask() -> None:
    import torch

    from worker.training import packed_attention

    lengths = [5, 11, 3, 9]
    ids = torch.randint(0, 300, (1, sum(lengths)), generator=torch.Generator().manual_seed(1))
    positions = torch.cat([torch.arange(n) for n in lengths])[None]
    cu = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int32)
    boundaries = {"cu_seq_lens_q": cu, "cu_seq_lens_k": cu, "max_length_q": 11, "max_length_k": 11}

    reference = _small_gqa_llama()  # SDPA with transformers' block-diagonal mask from the position ids
    varlen = _small_gqa_llama()
    varlen.set_attn_implementation(packed_attention.register())
    assert varlen.config._attn_implementation == "tuneloop_varlen"

    expected = reference(input_ids=ids, position_ids=positions, labels=ids, use_cache=False)
    got = varlen(input_ids=ids, position_ids=positions, labels=ids, use_cache=False, **boundaries)
    assert torch.allclose(got.logits, expected.logits, atol=1e-5)
    # Without the collator's boundaries the positions give the same samples.
    from_positions = varlen(input_ids=ids, position_ids=positions, use_cache=False).logits
    assert torch.allclose(from_positions, expected.logits, atol=1e-5)
    start = 0
    for n in lengths:  # each sample sees only itself
        alone = reference(input_ids=ids[:, start:start + n], use_cache=False).logits
        assert torch.allclose(got.logits[0, start:start + n], alone[0], atol=1e-5)
        start += n

    expected.loss.backward()
    got.loss.backward()
    for (name, p_ref), (_, p_var) in zip(reference.named_parameters(), varlen.named_parameters(), strict=True):
        assert torch.allclose(p_var.grad, p_ref.grad, atol=1e-5, rtol=1e-4), name

    # Padded batches and generation with a cache take transformers' SDPA path: the same tokens as plain SDPA.
    prompts = torch.randint(1, 300, (3, 7), generator=torch.Generator().manual_seed(2))
    mask = torch.ones_like(prompts)
    mask[0, :3] = 0
    mask[1, :1] = 0
    with torch.no_grad():
        plain = reference.generate(input_ids=prompts, attention_mask=mask, max_new_tokens=6, do_sample=False,
                                   pad_token_id=0)
        ours = varlen.generate(input_ids=prompts, attention_mask=mask, max_new_tokens=6, do_sample=False,
                               pad_token_id=0)
    assert torch.equal(plain, ours)


def _train(tiny_model: Path, tmp_path: Path, name: str, *, speed: dict, hyper: dict | None = None,
           eval_file: Path | None = None) -> tuple[list[float], dict[str, Any], list[dict]]:
    """Train in this process; returns the logged losses, run_config.json and the events."""
    from worker.training.config import RunSpec
    from worker.training.events import Emitter
    from worker.training.runner import run
    from worker.training.specs import load

    train = write_jsonl(tmp_path / "train.jsonl", sum_messages(40))
    out = tmp_path / name
    spec = load(RunSpec, {
        "base_model": str(tiny_model), "output_dir": str(out), "train_file": str(train),
        "eval_file": str(eval_file) if eval_file else None,
        "eval": {"enabled": eval_file is not None, "num_samples": 2, "max_new_tokens": 4},
        "hyperparameters": {"packing": True, "max_length": 96, "per_device_train_batch_size": 4, "max_steps": 4,
                            "learning_rate": 5e-4, "logging_steps": 1, "save_steps": 100, **(hyper or {})},
        "speed": speed})
    with open(tmp_path / f"{name}.events", "w") as sink:
        assert run(spec, Emitter(stream=sink)) == 0
    events = [json.loads(line) for line in (tmp_path / f"{name}.events").read_text().splitlines()]
    losses = [e["loss"] for e in events if e["event"] == "log"]
    return losses, json.loads((out / "run_config.json").read_text()), events


def _same_curve(a: list[float], b: list[float]) -> None:
    """The same first step (one forward pass, the same arithmetic) and the same curve within float noise (Adam
    turns rounding differences in near-zero gradients into small update differences)."""
    assert len(a) == len(b) == 4
    assert a[0] == pytest.approx(b[0], rel=1e-5)
    assert a == pytest.approx(b, rel=1e-3)


def test_packed_training_gives_the_same_loss_curve_with_varlen_attention_and_with_the_mask(
        tiny_model: Path, tmp_path: Path) -> None:
    evals = write_jsonl(tmp_path / "eval.jsonl", sum_messages(4, start=100))
    varlen, config, events = _train(tiny_model, tmp_path, "varlen", speed={"packed_attention": "varlen"},
                                    eval_file=evals)
    masked, masked_config, _ = _train(tiny_model, tmp_path, "mask", speed={"packed_attention": "mask"})
    _same_curve(varlen, masked)
    # On this CPU: per-sample SDPA, and every GPU-only switch off with the reason, in the event and the config.
    resolved = config["resolved"]["speed"]
    assert resolved["packed_attention"] == "varlen-sdpa"
    assert "CUDA GPU" in resolved["reasons"]["packed_attention"]
    assert resolved["liger_kernel"] is False and "CUDA GPU" in resolved["reasons"]["liger_kernel"]
    assert resolved["torch_compile"] is False
    assert (resolved["micro_batch"], resolved["gradient_accumulation_steps"]) == (4, 1)
    assert [e["event"] for e in events[:2]] == ["started", "speed"] and events[1]["packed_attention"] == "varlen-sdpa"
    assert masked_config["resolved"]["speed"]["packed_attention"] == "mask"
    # The varlen-trained model still evaluates (padding-free eval batches) and generates (padded, with a cache).
    evaluation = next(e for e in events if e["event"] == "eval")
    assert evaluation["loss_after"] < evaluation["loss_before"]
    assert all(isinstance(s["tuned"], str) for s in evaluation["samples"])


def test_a_micro_batch_split_keeps_the_effective_batch_and_the_loss_curve(tiny_model: Path, tmp_path: Path) -> None:
    whole, _, _ = _train(tiny_model, tmp_path, "whole", speed={"micro_batch": "off"})
    split, config, _ = _train(tiny_model, tmp_path, "split", speed={"micro_batch": 2})
    resolved = config["resolved"]["speed"]
    assert (resolved["micro_batch"], resolved["gradient_accumulation_steps"]) == (2, 2)
    _same_curve(split, whole)


TINYLLAMA = dict(parameters=1_100_048_384, layers=22, hidden=2048, intermediate=5632, kv_dim=256, weight_bytes=2)


def test_the_micro_batch_is_chosen_from_free_memory() -> None:
    from worker.training import micro_batch as mb

    shape = mb.ModelShape(**TINYLLAMA)
    per_row = 2048 * mb.activation_bytes_per_token(shape, lora=True)
    fixed = mb.fixed_bytes(shape, lora_rank=16)
    # The estimate errs high of the measured 44-46 GB peak at 8 x 2,048 tokens, and not absurdly.
    assert 46e9 < fixed + 8 * per_row < 70e9
    assert mb.lora_parameters(shape, 16) == 12_615_680  # PEFT's count for r=16 on all linear layers

    def choose(setting: str | int = "auto", free: float | None = 139 * GIB, per_device: int = 8,
               accumulation: int = 4):
        return mb.choose(setting, per_device=per_device, accumulation=accumulation,
                         free_bytes=None if free is None else int(free), fixed=fixed, per_row=per_row, fraction=0.8)

    raised = choose()  # an H200 has room for 16 rows of 2,048: two passes instead of four, the same 32 rows a step
    assert (raised.micro_batch, raised.gradient_accumulation_steps) == (16, 2)
    assert raised.reason.startswith("raised from 8") and raised.planned_bytes <= 0.8 * 139 * GIB
    lowered = choose(free=40 * GIB)  # a 40 GB card would run out at 8: four rows per pass, eight passes
    assert (lowered.micro_batch, lowered.gradient_accumulation_steps) == (4, 8)
    assert lowered.reason.startswith("lowered from 8")
    assert choose(free=2 * GIB).micro_batch == 1 and "may not fit" in choose(free=2 * GIB).reason
    kept = choose(free=None)  # no GPU: nothing to measure
    assert (kept.micro_batch, kept.gradient_accumulation_steps) == (8, 4) and "no CUDA" in kept.reason
    assert (choose("off").micro_batch, choose(8, accumulation=1).gradient_accumulation_steps) == (8, 1)
    with pytest.raises(ValueError, match="does not divide the effective batch of 32"):
        choose(12)


def test_speed_settings_are_checked_and_an_unavailable_switch_falls_back_with_its_reason(
        tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from worker.training.config import RunSpec
    from worker.training.errors import ConfigError
    from worker.training.modeling import load_model
    from worker.training.specs import load
    from worker.training.speed import plan

    base = {"base_model": str(tiny_model), "output_dir": str(tmp_path), "train_file": "x.jsonl"}
    with pytest.raises(ConfigError, match=r"'speed.micro_batch' must be \"auto\", \"off\" or a positive number"):
        load(RunSpec, {**base, "speed": {"micro_batch": 0}})
    with pytest.raises(ConfigError, match=r"'speed\.liger_kernel' must be one of"):
        load(RunSpec, {**base, "speed": {"liger_kernel": "yes"}})
    spec = load(RunSpec, {**base, "speed": {"liger_kernel": "on", "torch_compile": "off", "micro_batch": "auto"},
                          "hyperparameters": {"per_device_train_batch_size": 2, "gradient_accumulation_steps": 4,
                                              "max_length": 2048}})
    model = load_model(spec, bf16=False)
    cpu = plan(spec, model, cuda=False)
    assert cpu.liger_kernel is False
    assert cpu.reasons["liger_kernel"] == ("asked for, but Liger Kernel's Triton kernels need a CUDA GPU; running "
                                           "without it")
    assert cpu.reasons["torch_compile"] == "off in the spec"
    assert cpu.packed_attention == "none"  # nothing packed
    # With a GPU's free memory (given here), the tiny model's 8-row effective batch goes through in one pass.
    gpu = plan(spec, model, cuda=True, free_bytes=8 * GIB)
    assert (gpu.micro_batch, gpu.gradient_accumulation_steps) == (8, 1)
    assert gpu.planned_memory_gib is not None and gpu.planned_memory_gib < 0.8 * 8
    with pytest.raises(ConfigError, match=r"'speed\.micro_batch': micro_batch 3 does not divide"):
        plan(load(RunSpec, {**base, "speed": {"micro_batch": 3}}), model, cuda=False)
    # Several processes keep the spec's split: their GPUs' free memory need not agree, their batches must.
    monkeypatch.setenv("WORLD_SIZE", "2")
    ranks = plan(spec, model, cuda=True, free_bytes=8 * GIB)
    assert (ranks.micro_batch, ranks.gradient_accumulation_steps) == (2, 4)
    assert ranks.reasons["micro_batch"].startswith("several processes")


def _reference_varlen(query, key, value, cu_q, cu_k, max_q, max_k, *, causal: bool, scale: float | None,
                      gqa: bool):
    """torch's varlen_attn semantics, [T, H, D] in and out, computed per sample with SDPA (for CPU tests)."""
    import torch

    if key.shape[1] != query.shape[1] and not gqa:
        raise ValueError("Expect query and key/value to have the same number of heads")
    bounds = cu_q.tolist()
    parts = [torch.nn.functional.scaled_dot_product_attention(
        query[s:e].transpose(0, 1), key[s:e].transpose(0, 1), value[s:e].transpose(0, 1), is_causal=causal,
        scale=scale, enable_gqa=gqa).transpose(0, 1) for s, e in itertools.pairwise(bounds)]
    return torch.cat(parts)


def _torch_2_10_varlen(query, key, value, cu_seq_q, cu_seq_k, max_q, max_k, is_causal=False, return_aux=None):
    return _reference_varlen(query, key, value, cu_seq_q, cu_seq_k, max_q, max_k, causal=is_causal, scale=None,
                             gqa=False)


def _torch_2_11_varlen(query, key, value, cu_seq_q, cu_seq_k, max_q, max_k, *, return_aux=None, scale=None,
                       window_size=(-1, -1)):
    return _reference_varlen(query, key, value, cu_seq_q, cu_seq_k, max_q, max_k, causal=window_size == (-1, 0),
                             scale=scale, gqa=False)


def _torch_2_12_varlen(query, key, value, cu_seq_q, cu_seq_k, max_q, max_k, *, return_aux=None, scale=None,
                       window_size=(-1, -1), enable_gqa=False, seqused_k=None, block_table=None, num_splits=None):
    return _reference_varlen(query, key, value, cu_seq_q, cu_seq_k, max_q, max_k, causal=window_size == (-1, 0),
                             scale=scale, gqa=enable_gqa)


@pytest.mark.parametrize("varlen", [_torch_2_10_varlen, _torch_2_11_varlen, _torch_2_12_varlen])
def test_the_fused_call_adapts_to_each_torch_varlen_api(varlen, monkeypatch: pytest.MonkeyPatch) -> None:
    """The GPU kernel's Python API changed between torch releases (is_causal became window_size; scale and
    enable_gqa came later): each version is called so that it computes the same causal, scaled, grouped-query
    attention. Checked here against stand-ins with each version's signature and documented semantics, and on a GPU
    by the self-test every run does before using the kernel."""
    import inspect

    import torch

    from worker.training import packed_attention

    monkeypatch.setattr(packed_attention, "_varlen", lambda: (varlen, frozenset(inspect.signature(varlen).parameters)))
    generator = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(16, heads, 32, generator=generator) for heads in (4, 2, 2))
    cu = torch.tensor([0, 5, 16], dtype=torch.int32)
    got = packed_attention._fused(q, k, v, cu, cu, 11, 11, scaling=0.2)
    expected = packed_attention._per_sample(*(t.transpose(0, 1)[None] for t in (q, k, v)), [0, 5, 16], 0.2, 0.0)
    assert torch.allclose(got, expected[0], atol=1e-5)
    assert packed_attention._self_test("cpu", torch.float32) is None  # the run's self-test passes with it too


def test_a_liger_patch_that_changes_the_model_fails_its_self_test_and_is_undone() -> None:
    import torch
    from transformers import LlamaConfig
    from transformers.models.llama import modeling_llama

    from worker.training import liger

    config = LlamaConfig()
    assert liger.self_test(config, device="cpu", patch=lambda model: None) is None
    original = modeling_llama.apply_rotary_pos_emb

    def broken(model: object) -> None:  # what a kernel with a wrong rotary embedding would do
        modeling_llama.apply_rotary_pos_emb = lambda q, k, cos, sin, *a, **kw: (q * 0, k * 0)

    problem = liger.self_test(config, device="cpu", patch=broken)
    assert problem is not None and "differs from the model's" in problem
    assert modeling_llama.apply_rotary_pos_emb is original  # the module is as transformers made it
    assert liger.problem(False, config) == "Liger Kernel's Triton kernels need a CUDA GPU"
    assert torch.cuda.is_available() or "liger-kernel" in (liger.problem(True, config) or "")
