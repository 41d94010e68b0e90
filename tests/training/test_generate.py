"""`generate`: n sampled texts per prompt id from the base model plus an adapter, with progress events."""

from __future__ import annotations

import json
from pathlib import Path

from tests.training.conftest import by_event, run_cli, write_jsonl


def make_adapter(model_dir: Path, target: Path) -> Path:
    """A LoRA adapter on the tiny model, saved with save_pretrained."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = get_peft_model(AutoModelForCausalLM.from_pretrained(model_dir),
                           LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM"))
    model.save_pretrained(target)
    return target


def test_generate_writes_n_texts_per_id(tiny_model: Path, tmp_path: Path) -> None:
    prompts = write_jsonl(tmp_path / "prompts.jsonl", [
        {"id": 11, "messages": [{"role": "user", "content": "Name a colour."}]},
        {"id": "b", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]},
        {"id": 13, "messages": [{"role": "user", "content": "What is 2 plus 2?"}]},
    ])
    output = tmp_path / "out" / "texts.jsonl"
    spec = tmp_path / "gen.json"
    spec.write_text(json.dumps({"base_model": str(tiny_model), "adapter_dir": str(make_adapter(tiny_model,
                                tmp_path / "adapter")), "prompts_file": str(prompts), "output_file": str(output),
                                "n": 3, "max_new_tokens": 8, "batch_size": 2, "model_name": "tiny+lora"}))
    code, events, stderr = run_cli("generate", str(spec))
    assert code == 0, stderr
    assert [(e["done"], e["total"]) for e in by_event(events, "progress")] == [(2, 3), (3, 3)]
    assert events[-1]["event"] == "completed" and events[-1]["model_name"] == "tiny+lora"
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert [r["id"] for r in rows] == [11, "b", 13]
    assert all(len(r["texts"]) == 3 and all(isinstance(t, str) for t in r["texts"]) for r in rows)
    assert not list(output.parent.glob("*.partial"))
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"id": 1, "messages": []}])
    spec.write_text(json.dumps({"base_model": str(tiny_model), "prompts_file": str(bad),
                                "output_file": str(tmp_path / "x.jsonl")}))
    code, events, _ = run_cli("generate", str(spec))
    assert code == 1 and events[0]["kind"] == "data" and f"{bad} line 1" in events[0]["message"]
