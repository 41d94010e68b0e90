"""Templates render in Jinja's sandbox, with StrictUndefined: a template sees its record's fields (plain JSON
values) and nothing else. It cannot read files (there is no loader, and include/import/extends are refused),
cannot reach attributes of Python objects (only the public methods of strings, lists, dicts and numbers, and
no name starting with "_"), and cannot run code. Size bombs ("a" * 10**9) are refused too.
"""

from __future__ import annotations

import operator
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, meta, nodes, pass_context
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError, safe_range

SEPARATOR = "|||"
# Stands in for "|||" inside field values while rendering, so a value can never split input from target.
PIPE_GUARD = "3ed2dface8203c4c9dfb1a5dc58e41e0"
# Names a template may use that are not record fields.
BUILTIN_NAMES = frozenset({"answer_choices", "options", "zip", "range"})
# The row's seed, under a name no template can write (not an identifier): only the `choice` filter reads it.
SEED_KEY = "\x00seed"
DATA_TYPES = (str, list, dict, int, float, bool, tuple)
MAX_SIZE = 200_000  # the longest string or list an operator may build
MAX_RANGE = 1_000  # range() in templates: enough for any record's list, too short to spin the worker


class RenderError(Exception):
    """Why one record did not render: a stable lowercase code and a sentence naming the problem."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _most_frequent(items: list[Any]) -> list[Any]:
    if not items:
        return []
    counts = Counter(items).most_common()
    return [item for item, n in counts if n == counts[0][1]]


@pass_context
def _choice(context: Context, items: list[Any]) -> Any:
    """promptsource's `choice` filter, seeded by the row: the same row always picks the same item."""
    if not items:
        raise RenderError("template_error", "the choice filter got an empty list")
    import random

    return random.Random(f"{context.get(SEED_KEY, 0)}:choice:{len(items)}").choice(list(items))


class RecordSandbox(ImmutableSandboxedEnvironment):
    """The sandbox, narrowed to plain data: attributes only of JSON-like values, and bounded operators."""

    intercepted_binops = frozenset({"*", "**", "+"})

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if type(obj) not in DATA_TYPES or attr.startswith("_"):
            return False
        return super().is_safe_attribute(obj, attr, value)

    def call_binop(self, context: Context, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "**":
            if isinstance(right, int | float) and abs(right) > 64:
                raise SecurityError("exponents above 64 are not allowed in templates")
            return operator.pow(left, right)
        if operator_name == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(times, int) and len(seq) * times > MAX_SIZE:
                    raise SecurityError(f"a template may not build a value longer than {MAX_SIZE} items")
            return operator.mul(left, right)
        result = operator.add(left, right)
        if isinstance(result, str | list | tuple) and len(result) > MAX_SIZE:
            raise SecurityError(f"a template may not build a value longer than {MAX_SIZE} items")
        return result


def _bounded_range(*args: int) -> range:
    rng = safe_range(*args)
    if len(rng) > MAX_RANGE:
        raise SecurityError(f"range() in a template is limited to {MAX_RANGE} items")
    return rng


def make_env() -> RecordSandbox:
    env = RecordSandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    env.globals.clear()  # no lipsum, cycler, joiner, namespace, dict: only what templates need
    env.globals.update(zip=zip, range=_bounded_range)
    env.filters["choice"] = _choice
    env.filters["most_frequent"] = _most_frequent
    return env


ENV = make_env()


@dataclass
class Problem:
    """A reason a template cannot be saved as written."""

    code: str
    message: str
    field: str = "jinja"


@dataclass
class Checked:
    """The static check of a template: its problems, and the record fields it reads."""

    problems: list[Problem] = field(default_factory=list)
    fields: set[str] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        return not self.problems


def _parse(source: str, where: str, checked: Checked) -> nodes.Template | None:
    try:
        return ENV.parse(source)
    except TemplateSyntaxError as exc:
        checked.problems.append(Problem("syntax", f"{where}, line {exc.lineno}: {exc.message}", where))
        return None


def _reaches_outside(tree: nodes.Template, where: str) -> list[Problem]:
    problems = []
    for node in tree.find_all((nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)):
        problems.append(Problem("no_imports", f"{where}, line {node.lineno}: templates cannot include, import or "
                                              "extend other templates", where))
    for node in tree.find_all(nodes.Getattr):
        if node.attr.startswith("_"):
            problems.append(Problem("private_attribute", f"{where}, line {node.lineno}: '{node.attr}' is not "
                                                         "reachable from a template (names starting with _)", where))
    for node in tree.find_all(nodes.Getitem):
        if isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str) and node.arg.value.startswith("_"):
            problems.append(Problem("private_attribute", f"{where}, line {node.lineno}: '{node.arg.value}' is not "
                                                         "reachable from a template (names starting with _)", where))
    return problems


def check(jinja: str, answer_choices: str | None = None, *, fields: list[str] | None = None) -> Checked:
    """Compile-time check: syntax, exactly one `|||`, nothing outside the record, and (given the dataset's
    fields) no field the records do not have."""
    checked = Checked()
    if not jinja.strip():
        checked.problems.append(Problem("empty", "the template is empty"))
        return checked
    separators = jinja.count(SEPARATOR)
    if separators == 0:
        checked.problems.append(Problem("missing_separator", "the template has no '|||' between the input and "
                                                              "the target"))
    elif separators > 1:
        checked.problems.append(Problem("several_separators", f"the template has {separators} '|||'; write exactly "
                                                              "one, between the input and the target"))
    for source, where in ((jinja, "jinja"), (answer_choices, "answer_choices")):
        if source is None or not source.strip():
            continue
        tree = _parse(source, where, checked)
        if tree is None:
            continue
        checked.problems += _reaches_outside(tree, where)
        checked.fields |= meta.find_undeclared_variables(tree) - BUILTIN_NAMES
    if fields is not None:
        for name in sorted(checked.fields - set(fields)):
            checked.problems.append(Problem("undefined_field", f"'{name}' is not a field of the dataset's records "
                                                               f"(fields: {', '.join(fields) or 'none'})"))
    return checked


def protect(record: dict[str, Any]) -> dict[str, Any]:
    """The record with "|||" inside its text values guarded, as promptsource does."""
    if "answer_choices" in record or "options" in record:
        name = "answer_choices" if "answer_choices" in record else "options"
        raise RenderError("restricted_field", f"the record has a field named '{name}', which templates reserve")
    return {k: v.replace(SEPARATOR, PIPE_GUARD) if isinstance(v, str) else v for k, v in record.items()}


def run(template: Any, context: dict[str, Any]) -> str:
    """Render a compiled template, turning every failure into a RenderError with a code users can filter by."""
    from jinja2.exceptions import TemplateError, UndefinedError

    try:
        return template.render(context)
    except RenderError:
        raise
    except UndefinedError as exc:
        raise RenderError("undefined_field", f"{exc.message}") from exc
    except SecurityError as exc:
        raise RenderError("sandbox_violation", str(exc)) from exc
    except TemplateError as exc:
        raise RenderError("template_error", str(exc)) from exc
    except (TypeError, ValueError, IndexError, KeyError, ZeroDivisionError, AttributeError, OverflowError) as exc:
        raise RenderError("template_error", f"{type(exc).__name__}: {exc}") from exc


def unguard(text: str) -> str:
    return text.replace(PIPE_GUARD, SEPARATOR)
