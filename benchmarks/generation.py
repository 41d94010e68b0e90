"""Generation benchmark: new tokens per second of our local engine vs a plain `model.generate` loop.

`python -m benchmarks generation [--quick] [--prompts N] [--new-tokens N] [--batch N] [--gpu] [--static auto|on|off]
[--compile auto|on|off] [--out FILE]`. One process, one
model, the same prompts (T0 rows through the model's chat template) and the same batch size on both sides; greedy
decoding, every prompt made to write exactly `--new-tokens` tokens (min_new_tokens for generate, ignore_eos for
ours) so both produce the same number of tokens. Timed from the first prompt handed over to the last answer back,
tokenization included on both sides. CPU: the tiny test model; --gpu: a random ~1.1B Llama of TinyLlama's shape in
bf16, built from its config (no download).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from typing import Any

from benchmarks.tuning import t0_rows


def _note(message: str) -> None:
    print(f"  generation: {message}", file=sys.stderr, flush=True)


def prompts(count: int) -> list[list[dict[str, str]]]:
    """T0 prompts of mixed lengths (a seeded sample over all templates), as one-turn conversations."""
    rows = t0_rows(count, max_chars=1500, spread=True)
    return [row["messages"][:1] for row in rows]


def plain_generate(loaded: Any, conversations: list, batch: int, new_tokens: int) -> dict[str, float]:
    """What a user writes by hand: batches in the order given, padded on the left, `model.generate`."""
    import torch

    tokenizer, model = loaded.tokenizer, loaded.model
    tokenizer.padding_side = "left"
    made = 0
    started = time.perf_counter()
    for start in range(0, len(conversations), batch):
        texts = [tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True)
                 for c in conversations[start:start + batch]]
        inputs = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
        with torch.inference_mode():
            out = model.generate(**inputs, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id)
        made += (out.shape[1] - inputs["input_ids"].shape[1]) * out.shape[0]
    seconds = time.perf_counter() - started
    return {"new_tokens": made, "seconds": round(seconds, 2), "new_tokens_per_second": round(made / seconds, 1)}


def our_engine(loaded: Any, resolved: Any, conversations: list, new_tokens: int) -> dict[str, Any]:
    """Every prompt submitted at once, as a job or many clients would; the engine batches them itself."""
    from worker.serving.engine import LocalEngine
    from worker.serving.params import RequestResult, SamplingParams

    engine = LocalEngine(loaded, resolved)
    params = SamplingParams(max_tokens=new_tokens, temperature=0.0, ignore_eos=True)
    done = threading.Semaphore(0)
    results: list[Any] = []

    def sink(event: Any) -> None:
        if isinstance(event, RequestResult | BaseException):
            results.append(event)
            done.release()

    tokenizer = loaded.tokenizer
    started = time.perf_counter()
    for conversation in conversations:
        ids = tokenizer.apply_chat_template(conversation, tokenize=True, add_generation_prompt=True,
                                            return_dict=True)["input_ids"]
        engine.submit(list(ids), params, sink)
    for _ in conversations:
        done.acquire()
    seconds = time.perf_counter() - started
    stats = engine.describe()
    engine.close()
    failed = [r for r in results if isinstance(r, BaseException)]
    if failed:
        raise RuntimeError(f"the engine failed {len(failed)} requests: {failed[0]}")
    made = sum(r.completion_tokens for r in results)
    return {"new_tokens": made, "seconds": round(seconds, 2), "new_tokens_per_second": round(made / seconds, 1),
            "mean_batch": round(stats["row_steps"] / max(1, stats["steps"]), 1), "prefills": stats["prefills"],
            "settings": {k: stats[k] for k in ("engine", "device", "dtype", "static_cache", "compile", "max_batch_size",
                                               "max_batch_tokens")}}


def _load(args: argparse.Namespace, work: str) -> tuple[Any, Any]:
    import torch

    from worker.serving.loading import LoadedModel, ModelSource, load
    from worker.serving.settings import EngineSettings, resolve

    settings = EngineSettings(max_batch_size=args.batch, engine="transformers", static_cache=args.static,
                              compile=args.compile)
    resolved = resolve(settings)
    if not args.gpu:
        from worker.training.tiny import init_tiny

        init_tiny(__import__("pathlib").Path(work) / "tiny", seed=0)
        return load(ModelSource(os.path.join(work, "tiny")), resolved), resolved
    from transformers import LlamaConfig, LlamaForCausalLM

    from worker.training.tiny import train_tokenizer

    tokenizer = train_tokenizer(1024)
    tokenizer.padding_side = "left"
    # TinyLlama-1.1B's shape, random weights; the tokenizer uses the first ids of the 32,000-entry embedding.
    config = LlamaConfig(vocab_size=32000, hidden_size=2048, intermediate_size=5632, num_hidden_layers=22,
                         num_attention_heads=32, num_key_value_heads=4, max_position_embeddings=4096,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    with torch.device("cuda"):  # initialised where it runs: a 1.1B model takes a while on the CPU
        model = LlamaForCausalLM(config).to(dtype=torch.bfloat16).eval()
    loaded = LoadedModel(model=model, tokenizer=tokenizer, family="causal-lm", device=model.device,
                         context_length=4096, eos_ids=frozenset({tokenizer.eos_token_id}),
                         source=ModelSource("random-1.1b-llama"))
    return loaded, resolved


def run(quick: bool, extra: list[str]) -> dict[str, Any]:
    import tempfile

    import torch

    parser = argparse.ArgumentParser(prog="python -m benchmarks generation")
    parser.add_argument("--prompts", type=int, default=64 if quick else 512)
    parser.add_argument("--new-tokens", type=int, default=32 if quick else 128)
    parser.add_argument("--batch", type=int, default=64, help="batch size on both sides")
    parser.add_argument("--repeats", type=int, default=1 if quick else 2)
    parser.add_argument("--gpu", action="store_true", help="the ~1.1B Llama in bf16 (needs CUDA)")
    parser.add_argument("--static", choices=("auto", "on", "off"), default="auto",
                        help="our engine's static KV cache (auto: on with a GPU; off: continuous batching)")
    parser.add_argument("--compile", choices=("auto", "on", "off"), default="auto",
                        help="our engine's compiled decoding (needs the static cache; auto: on with a GPU)")
    parser.add_argument("--out", help="also write the figures to this file")
    args, _ = parser.parse_known_args(extra)
    if args.gpu and not torch.cuda.is_available():
        return {"skipped": "--gpu needs a CUDA device; this machine has none"}
    if not args.gpu:
        # One thread per side, as in the tuning benchmark: on a shared machine, spinning threads swing timings.
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    conversations = prompts(args.prompts)
    with tempfile.TemporaryDirectory(prefix="tuneloop-bench-gen-") as work:
        loaded, resolved = _load(args, work)
        runs_plain, runs_ours = [], []
        for repeat in range(args.repeats):  # interleaved, so machine noise hits both sides alike
            runs_plain.append(plain_generate(loaded, conversations, args.batch, args.new_tokens))
            _note(f"plain generate #{repeat + 1}: {runs_plain[-1]['new_tokens_per_second']} new tokens/s")
            runs_ours.append(our_engine(loaded, resolved, conversations, args.new_tokens))
            _note(f"our engine #{repeat + 1}: {runs_ours[-1]['new_tokens_per_second']} new tokens/s")
    plain_rate = statistics.median(r["new_tokens_per_second"] for r in runs_plain)
    ours_rate = statistics.median(r["new_tokens_per_second"] for r in runs_ours)
    result = {"device": "cuda" if args.gpu else "cpu", "prompts": args.prompts, "new_tokens": args.new_tokens,
              "batch": args.batch, "repeats": args.repeats, "plain_generate": runs_plain, "ours": runs_ours,
              "plain_new_tokens_per_second": plain_rate, "ours_new_tokens_per_second": ours_rate,
              "ratio": round(ours_rate / plain_rate, 3)}
    if args.gpu:
        result["gpu"] = torch.cuda.get_device_name(0)
        result["target_10000_met"] = ours_rate >= 10_000
    else:
        result["target_ratio_1_met"] = result["ratio"] >= 1.0
    if args.out:
        import json

        with open(args.out, "w", encoding="utf-8") as handle:
            json.dump(result, handle, indent=2)
    return result
