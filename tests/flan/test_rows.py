"""Rendering rows without a database: fixed records and a seed give exactly these bytes; few-shot prompts stay
under the token budget of a real tokenizer.json; CoT templates and their inversions read as Flan's do."""

from __future__ import annotations

import hashlib

import pytest

from app.flan.fewshot import assemble, prune
from app.flan.presets import COT_TEMPLATES
from app.flan.rows import RowContext, render_row
from app.flan.tokens import TokenCounter, resolve
from app.prompts.compiled import FewShotFormat, apply, compile_template

NLI = compile_template(
    template_id=7, version=2, name="nli", type="cot", idx=1,
    jinja="Premise: {{premise}}\nHypothesis: {{hypothesis}}\nDoes the premise entail the hypothesis? ||| "
          "{{answer_choices[label]}}",
    answer_choices="yes ||| it is not possible to tell ||| no",
    few_shot={"input_prefix": "Q: ", "target_prefix": "A: "})
RECORDS = [{"premise": f"A man plays guitar number {i}.", "hypothesis": "A man plays music." if i % 2 else
            "A woman sings.", "label": 0 if i % 2 else 2} for i in range(6)]
SETTINGS = ("zs-opt", "zs-noopt", "fs-opt", "fs-noopt")


def _ctx(seed: int = 42, k: int = 2, budget: int = 1920, counter: TokenCounter | None = None) -> RowContext:
    return RowContext(dataset_id=1, seed=seed, k=k, budget=budget, counter=counter or TokenCounter("ws"),
                      pool=list(enumerate(RECORDS)))


def test_a_seed_gives_exactly_these_bytes():
    rows = [render_row(NLI, RECORDS[0], 0, s, _ctx()) for s in SETTINGS]
    assert rows[0].instruction == ("Premise: A man plays guitar number 0.\nHypothesis: A woman sings.\nDoes the "
                                   "premise entail the hypothesis?\n\nPossible answers:\nA. yes\nB. it is not "
                                   "possible to tell\nC. no")
    assert rows[1].instruction == ("Premise: A man plays guitar number 0.\nHypothesis: A woman sings.\nDoes the "
                                   "premise entail the hypothesis?")
    assert rows[3].instruction.startswith("Q: Premise: A man plays guitar number 5.\nHypothesis: A man plays music."
                                          "\nDoes the premise entail the hypothesis?\nA: yes\n\nQ: Premise:")
    assert rows[3].instruction.endswith("\nA:") and {r.target for r in rows} == {"no"}
    digest = hashlib.sha256("\x00".join(r.instruction + "\x01" + r.target for r in rows).encode()).hexdigest()
    assert digest == "f6cf4d6de7955e6fd60ad215a015e51a4b3c286af00f0ff6013a3d1443dec677"
    again = [render_row(NLI, RECORDS[0], 0, s, _ctx()) for s in SETTINGS]
    assert again == rows
    assert [render_row(NLI, RECORDS[0], 0, s, _ctx(seed=43)) for s in SETTINGS] != rows


def _tokenizer_dir(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    corpus = [r["premise"] + " " + r["hypothesis"] for r in RECORDS] * 20 + ["Does the premise entail the hypothesis"]
    tokenizer.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=200, special_tokens=["[UNK]"],
                                                              show_progress=False))
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    return tmp_path


@pytest.mark.parametrize("budget", [170, 260, 420])
def test_few_shot_prompts_stay_under_the_budget_of_a_real_tokenizer(tmp_path, budget):
    counter = resolve(str(_tokenizer_dir(tmp_path)))
    assert counter.description.startswith("tokenizer.json in ")
    ctx = _ctx(k=5, budget=budget, counter=counter)
    for position, record in enumerate(RECORDS):
        row = render_row(NLI, record, position, "fs-opt", ctx)
        assert row.tokens == counter.count(row.instruction) <= budget
        assert 1 <= row.exemplars <= 5 and row.instruction.count("Q: ") == row.exemplars + 1


def test_prune_drops_the_last_exemplars_first_and_gives_up_when_none_fits():
    fmt = FewShotFormat(input_prefix="Q: ", target_prefix="A: ")
    pairs = [(f"question {i} " * 5, f"answer {i}") for i in range(4)]
    words = TokenCounter("ws").count
    pruned = prune(fmt, pairs, "the query", 40, words)
    assert pruned.used == 2 and pruned.text == assemble(fmt, pairs[:2], "the query") and pruned.tokens <= 40
    assert prune(fmt, pairs, "the query", 10, words) is None


def test_cot_templates_and_their_inversions():
    record = {"question": "Is 17 prime?", "answer": "yes", "cot": "17 has no divisor between 2 and 4."}
    made = {}
    for spec in COT_TEMPLATES:
        tpl = compile_template(template_id=1, version=1, name=spec["name"], type=spec["type"], idx=0,
                               jinja=spec["jinja"], answer_choices=None)
        made[spec["name"]] = apply(tpl, record)[:2]
    assert made["cot_think_first"] == ("Is 17 prime? Let's think first. Chain of thought:",
                                       "17 has no divisor between 2 and 4.\nTherefore, the answer is yes.")
    assert made["inverted_question_from_cot"] == (
        "Reasoning: 17 has no divisor between 2 and 4.\nAnswer: yes\nWhat was the question?", "Is 17 prime?")
    assert made["inverted_cot_from_answer"][1] == "17 has no divisor between 2 and 4."
