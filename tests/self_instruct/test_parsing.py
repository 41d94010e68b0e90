"""Answers in the shapes models really write, the original's filters, and the instance drop rules."""

from __future__ import annotations

import random

from app.self_instruct import filters, instances, parse, prompts


def texts(found):
    return [p.text for p in found]


def test_the_original_continuation_of_nine():
    answer = " Find the odd one out in the list.\n10. Sort the words by length.\n11 . Name a famous painter."
    found = parse.instructions(answer, continues=True)
    assert texts(found) == ["Find the odd one out in the list.", "Sort the words by length.", "Name a famous painter."]


def test_chat_answers_with_a_preamble_restarting_at_one_bold_titles_and_a_closing_remark():
    answer = ("Sure! Here are some more tasks:\n\n1. **Sentiment**: classify the tweet as positive or negative.\n"
              "2) Write a haiku about\n   the first snow of winter.\n\nLet me know if you need more!")
    assert texts(parse.instructions(answer, continues=False)) == [
        "Sentiment: classify the tweet as positive or negative.", "Write a haiku about the first snow of winter."]


def test_task_labels_and_bullets():
    answer = "Task 9: Name three rivers in Africa.\nTask 10: Explain what a prime number is."
    assert texts(parse.instructions(answer, continues=False)) == ["Name three rivers in Africa.",
                                                                 "Explain what a prime number is."]
    bullets = "- Name three rivers in Africa.\n* Explain what a prime number is.\n• Give a synonym of happy."
    assert len(parse.instructions(bullets, continues=False)) == 3


def test_no_list_is_nothing_and_a_cut_answer_marks_its_last_item():
    assert parse.instructions("I cannot help with that request.", continues=False) == []
    assert parse.instructions("\n\n", continues=True) == []
    cut = parse.instructions(" Name a river.\n10. Give me the ten tallest", continues=True, truncated=True)
    assert [p.truncated for p in cut] == [False, True]


def test_alpaca_items_noinput_and_malformed_items():
    answer = (" Give a synonym of the word.\n4. Input:\nHappy\n4. Output:\nJoyful\n###\n"
              "5. Instruction: Name a planet in the solar system.\n5. Input:\n<noinput>\n5. Output:\nMars\n###\n"
              "6. Instruction: just some words with no parts\n###\n7. Instruction: Cut")
    found = parse.alpaca_tasks(answer, next_number=4, truncated=True)
    assert [(p.text, p.input, p.output, p.shape_ok) for p in found[:2]] == [
        ("Give a synonym of the word.", "Happy", "Joyful", True), ("Name a planet in the solar system.", "", "Mars",
                                                                   True)]
    assert found[2].shape_ok is False and found[3].truncated is True


def test_prompts_keep_the_original_wording():
    text = prompts.self_instruct_prompt(["Name a colour:", "Sort   the\nlist."])
    assert text == "Come up with a series of tasks:\n1. Name a colour\n2. Sort the list.\n3."
    clf = prompts.self_instruct_prompt(["Is it spam?"], classification=True)
    assert clf.startswith("Come up with a series of classification tasks. Try to specify the possible output labels")
    alpaca = prompts.alpaca_prompt([prompts.Example("Name a colour", "", "Blue")])
    assert "You are asked to come up with a set of 20 diverse task instructions." in alpaca
    assert alpaca.endswith("List of 20 tasks:\n###\n1. Instruction: Name a colour\n1. Input:\n<noinput>\n"
                           "1. Output:\nBlue\n###\n2. Instruction:")
    assert prompts.is_classification_prompt("Sort the list.").endswith(
        "Is it classification? No\n\nTask: Sort the list.\nIs it classification?")
    assert prompts.instances_prompt("Sort the list.", classification=False).startswith("Come up with examples")


def test_filters_in_the_original_order_with_their_reasons():
    words = filters.blacklist_for("self-instruct")
    assert filters.reject_reason("Name three rivers.", words=words) == ("too_short", "3 words")
    assert filters.reject_reason("word " * 151, words=words)[0] == "too_long"
    assert filters.reject_reason("Plot the sales figures of last year by month.", words=words) == ("blacklisted",
                                                                                                    "plot")
    assert filters.reject_reason("Please go to the shop and buy milk.", words=words) == ("blacklisted", "go to")
    assert filters.reject_reason("Describe a mapping between two sets.", words=words) is None  # whole words only
    assert filters.reject_reason("Compose music for a short film scene.", words=words) is None
    assert filters.reject_reason("Compose music for a short film scene.",
                                 words=filters.blacklist_for("alpaca")) == ("blacklisted", "music")
    assert filters.reject_reason("write a program to add two numbers.", words=words)[0] == "write_a_program"
    assert filters.reject_reason("(a) Pick the right answer below.", words=words)[0] == "starts_with_punctuation"
    assert filters.reject_reason("Ünterscheide die beiden Wörter hier.", words=words)[0] == "non_ascii_start"
    assert filters.reject_reason("把这句话翻译成英文 please now ok", words=words)[0] == "non_ascii_start"
    assert parse.is_yes(" Yes") and parse.is_yes("yes, it is.") and not parse.is_yes(" No") and not parse.is_yes("")


def test_instances_the_original_drop_rules():
    raw = ("Example 1\nInput: a\nOutput: b\nExample 2\nInput: same\nOutput: same\nExample 3\nInput: c\nOutput:\n"
           "Example 4\nInput: d:\nOutput: e\nExample 5\nInput: a\nOutput: b\nExample 6\nInput: f\nOutput: g")
    chosen = instances.select(instances.parse_generation(raw), truncated=True, limit=5, rng=random.Random(1))
    assert chosen.kept == [instances.Instance("a", "b")]
    assert sorted(r for _, r in chosen.dropped) == ["duplicate", "empty_output", "ends_with_colon",
                                                    "input_equals_output", "truncated"]
    conflict = instances.parse_generation("Example 1\nInput: x\nOutput: 1\nExample 2\nInput: x\nOutput: 2")
    assert instances.select(conflict, truncated=False, limit=5, rng=random.Random(1)).kept == []
    many = "".join(f"Example {i}\nInput: in {i}\nOutput: out {i}\n" for i in range(1, 9))
    capped = instances.select(instances.parse_generation(many), truncated=False, limit=5, rng=random.Random(1))
    again = instances.select(instances.parse_generation(many), truncated=False, limit=5, rng=random.Random(1))
    assert len(capped.kept) == 5 and capped.kept == again.kept
    labels = instances.parse_classification("Class label: Spam\nEmail: Win now!\nClass label: Ham\nEmail: Lunch?")
    assert labels == [instances.Instance("Email: Win now!", "Spam"), instances.Instance("Email: Lunch?", "Ham")]
    assert instances.parse_generation("just text with no labels") == []
    assert instances.parse_generation("Output: 42") == [instances.Instance("", "42")]
