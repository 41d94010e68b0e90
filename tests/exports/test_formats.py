"""Row builders on plain records: pairs across tiers, ties, all-bad, corrections, KTO labels, prompts."""

from __future__ import annotations

from app.exports.formats import Record, kto, preference, preference_pairs, sft_alpaca, sft_messages, sharegpt


def rec(**kw) -> Record:
    base = dict(approval_id=1, instruction_id=10, instruction="Say hi", input="", system="", history=[],
                split="train", final_response="hi", final_candidate_id=1, ranking=[[1], [2], [3]], all_bad=False,
                rejected_ids=[3])
    return Record(**{**base, **kw})


CANDS = {1: "hi", 2: "hello there", 3: "go away"}


def test_pairs_follow_tiers_best_first():
    assert preference_pairs(rec(), CANDS) == [("hi", "hello there"), ("hi", "go away"), ("hello there", "go away")]


def test_ties_are_skipped_and_all_bad_yields_nothing():
    tied = rec(ranking=[[1], [2, 3]])
    assert preference_pairs(tied, CANDS) == [("hi", "hello there"), ("hi", "go away")]
    assert preference_pairs(rec(all_bad=True), CANDS) == []
    assert preference(rec(all_bad=True), CANDS, "plain") == []


def test_a_correction_ranks_above_every_candidate():
    corrected = rec(final_response="Hi!", final_candidate_id=None, ranking=[[1], [2]])
    assert preference_pairs(corrected, CANDS) == [("Hi!", "hi"), ("Hi!", "hello there"), ("hi", "hello there")]


def test_preference_styles_match_trl():
    plain = preference(rec(), CANDS, "plain")[0]
    assert plain == {"prompt": "Say hi", "chosen": "hi", "rejected": "hello there"}
    conv = preference(rec(system="Be nice."), CANDS, "conversational")[0]
    assert conv["prompt"] == [{"role": "system", "content": "Be nice."}, {"role": "user", "content": "Say hi"}]
    assert conv["chosen"] == [{"role": "assistant", "content": "hi"}]


def test_kto_labels_final_true_and_rejected_false():
    rows = kto(rec(), CANDS, "plain")
    assert rows == [{"prompt": "Say hi", "completion": "hi", "label": True},
                    {"prompt": "Say hi", "completion": "go away", "label": False}]


def test_sft_formats_carry_system_history_and_input():
    r = rec(input="to Bob", system="Sys", history=[{"role": "user", "content": "u0"},
                                                    {"role": "assistant", "content": "a0"}])
    assert sft_alpaca(r, {}, "plain") == [{"instruction": "Say hi", "input": "to Bob", "output": "hi"}]
    msgs = sft_messages(r, {}, "plain")[0]["messages"]
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user", "assistant"]
    assert msgs[3]["content"] == "Say hi\n\nto Bob"
    conv = sharegpt(r, {}, "plain")[0]["conversations"]
    assert [t["from"] for t in conv] == ["system", "human", "gpt", "human", "gpt"]
