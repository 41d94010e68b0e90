"""Templates render sandboxed: no files, no attributes of Python objects, no code, no size bombs; and the
static check names what is wrong (syntax, a missing '|||', an undefined field) as the editor shows it."""

from __future__ import annotations

import pytest

from app.prompts.compiled import apply, compile_template
from app.prompts.sandbox import RenderError, check

RECORD = {"review": "Nice soup", "label": 1, "tags": ["a", "b"]}
ESCAPES = [
    "{{ review.__class__.__mro__[1].__subclasses__() }} ||| x",
    "{{ review.upper.__globals__ }} ||| x",
    "{{ tags.__len__() }} ||| x",
    "{{ (review|attr('__class__')) }} ||| x",
    "{{ zip.__self__ }} ||| x",
    "{{ range.__globals__['os'] }} ||| x",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }} ||| x",
    "{{ lipsum.__globals__ }} ||| x",
    "{{ 'a' * 100000000 }} ||| x",
    "{{ '{0.__class__.__init__.__globals__}'.format(review) }} ||| x",
    "{% for i in range(10**9) %}{% endfor %} ||| x",
    "{{ tags.append('x') }} ||| x",
]


def _template(jinja: str, answer_choices: str | None = None):
    return compile_template(template_id=1, version=1, name="t", type="zero-shot", idx=0, jinja=jinja,
                            answer_choices=answer_choices)


@pytest.mark.parametrize("jinja", ESCAPES)
def test_escapes_are_refused_at_render(jinja):
    with pytest.raises(RenderError) as info:
        apply(_template(jinja), RECORD)
    assert info.value.code in ("sandbox_violation", "undefined_field", "template_error")


def test_no_template_reads_files():
    problems = check("{% include '/etc/passwd' %} {% import 'x' as y %} ||| x").problems
    assert [p.code for p in problems] == ["no_imports", "no_imports"]
    with pytest.raises(RenderError):
        apply(_template("{% include '/etc/passwd' %} ||| x"), RECORD)


def test_static_check_names_each_problem():
    assert [p.code for p in check("{{ review }}", fields=["review"]).problems] == ["missing_separator"]
    problems = check("{{ review.__class__ }} {{ titel }} ||| {{ label }}", fields=["review", "label"]).problems
    assert [(p.code, p.message) for p in problems] == [
        ("private_attribute", "jinja, line 1: '__class__' is not reachable from a template (names starting with _)"),
        ("undefined_field", "'titel' is not a field of the dataset's records (fields: review, label)")]
    syntax = check("{{ review }\n ||| x").problems
    assert syntax[0].code == "syntax" and syntax[0].message.startswith("jinja, line 1:")
    assert check("{{ review }} ||| {{ answer_choices[label] }} {{ options }}", "no ||| yes",
                 fields=["review", "label"]).ok


def test_render_errors_say_why():
    cases = [("{{ title }} ||| x", "undefined_field"), ("{{ review }}", "missing_separator"),
             ("{{ review }} ||| x ||| y", "missing_separator"), ("  ||| {{ review }}", "empty_input"),
             ("{{ review }} ||| {% if false %}x{% endif %}", "empty_target"),
             ("{{ review / 0 }} ||| x", "template_error")]
    for jinja, code in cases:
        with pytest.raises(RenderError) as info:
            apply(_template(jinja), RECORD)
        assert info.value.code == code, jinja


def test_pipes_inside_values_never_split_input_from_target():
    source, target, choices = apply(_template("{{ review }} ||| {{ answer_choices[label] }}", "no ||| y|||es"),
                                    {"review": "a ||| b", "label": 1})
    assert (source, target, choices) == ("a ||| b", "y", ["no", "y", "es"])
