"""LIMA's rules and the AlpaGasus judge's parser, on texts a user would recognise."""

from __future__ import annotations

from app.curation.judge import parse_verdict
from app.curation.rules import QualityRules, check, strip_markup

LIMA = QualityRules(preset="lima")
GOOD = ("The quicksort algorithm partitions the array around a pivot and sorts the parts recursively. " * 15).strip()


def test_stripping_keeps_code_blocks_and_lists_and_drops_links_images_and_html():
    text = ("See [the docs](https://example.com/docs) and <b>this</b> ![diagram](d.png) "
            "<a href='https://x.y'>here</a> https://bare.example/z\n\n<ul><li>one</li><li>two</li></ul>\n\n"
            "```python\nprint('<b>[keep](me)</b>')\n```")
    out = strip_markup(text)
    assert out.startswith("See the docs and this  here")
    assert "https://" not in out.split("```")[0] and "diagram" not in out and "<b>" not in out.split("```")[0]
    assert "<ul><li>one</li><li>two</li></ul>" in out
    assert "```python\nprint('<b>[keep](me)</b>')\n```" in out


def test_lima_preset_reasons():
    assert check(LIMA, GOOD, 12).passed
    assert check(LIMA, GOOD, 3).reason == "low_score"
    assert check(LIMA, GOOD, None).reason == "no_score"
    assert check(LIMA, "Too short.", 50).reason == "too_short"
    assert check(LIMA, GOOD * 4, 50).reason == "too_long"
    assert check(LIMA, "I think " + GOOD, 50).reason == "first_person"
    assert check(LIMA, GOOD + " As mentioned in another answer, it is fast.", 50).reason == "references_other_answers"
    assert check(LIMA, "   ", 50).reason == "no_response"
    # Code may say "I" without the answer being written in the first person.
    assert check(LIMA, GOOD + "\n\n```c\nint I = 0; // my counter\n```", 50).passed
    # Length is measured after stripping: a long URL does not make a short answer long enough.
    assert check(LIMA, "Short. " + "https://example.com/" + "x" * 2000, 50).reason == "too_short"


def test_rules_given_explicitly_win_over_the_preset():
    rules = QualityRules(preset="lima", min_score=0, min_chars=10, no_first_person=False)
    assert check(rules, "I like it a lot, really.", 1).passed
    assert check(QualityRules(preset="none", max_chars=5), "longer than five", None).reason == "too_long"


def test_judge_scores_and_refusals():
    assert parse_verdict("4\nAccurate and complete.").score == 4.0
    assert parse_verdict("Score: 4.5\nGood").score == 4.5
    assert parse_verdict("**Rating:** 3/5\nok").score == 3.0
    refusal = parse_verdict("I'm sorry, but I can't evaluate this content.")
    assert refusal.score is None and "no score on its first line" in refusal.error and "I'm sorry" in refusal.error
    assert "off the 1-5 scale" in parse_verdict("9\nexcellent").error
    assert parse_verdict("").error == "The judge answered nothing."
