"""A template version compiled once and applied to records: (input, target, answer choices) per record."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jinja2 import Template, TemplateSyntaxError, meta

from app.prompts.sandbox import ENV, SEED_KEY, SEPARATOR, RenderError, protect, run, unguard


@dataclass(frozen=True)
class FewShotFormat:
    """How exemplars and the query are laid out in a few-shot prompt (Flan's few-shot patterns)."""

    input_prefix: str = ""
    target_prefix: str = ""
    delimiter: str = "\n"
    separator: str = "\n\n"

    @classmethod
    def of(cls, data: dict[str, Any] | None) -> FewShotFormat:
        known = {k: v for k, v in (data or {}).items() if k in cls.__dataclass_fields__ and isinstance(v, str)}
        return cls(**known)


@dataclass
class CompiledTemplate:
    """One template version ready to render; `uses_options` says whether it places the options itself."""

    template_id: int
    version: int
    name: str
    type: str
    idx: int
    jinja: Template
    choices: Template | None
    uses_options: bool
    choices_in_prompt: bool
    few_shot: FewShotFormat = field(default_factory=FewShotFormat)

    @property
    def ref(self) -> str:
        return f"{self.template_id}@{self.version}"


def compile_template(*, template_id: int, version: int, name: str, type: str, idx: int, jinja: str,
                     answer_choices: str | None, metadata: dict[str, Any] | None = None,
                     few_shot: dict[str, Any] | None = None) -> CompiledTemplate:
    """Compile a stored version (already checked when it was saved); a syntax error is a RenderError."""
    try:
        tree = ENV.parse(jinja)
        body = ENV.from_string(tree)
        choices = ENV.from_string(answer_choices) if answer_choices and answer_choices.strip() else None
    except TemplateSyntaxError as exc:
        raise RenderError("syntax", f"line {exc.lineno}: {exc.message}") from exc
    return CompiledTemplate(template_id, version, name, type, idx, body, choices,
                            "options" in meta.find_undeclared_variables(tree),
                            bool((metadata or {}).get("choices_in_prompt")), FewShotFormat.of(few_shot))


def answer_choices(tpl: CompiledTemplate, record: dict[str, Any], seed: int = 0) -> list[str] | None:
    """The record's answer choices: the answer_choices expression rendered and split on '|||'."""
    if tpl.choices is None:
        return None
    text = run(tpl.choices, {**protect(record), SEED_KEY: seed})
    return [unguard(choice.strip()) for choice in text.split(SEPARATOR)]


def apply(tpl: CompiledTemplate, record: dict[str, Any], *, seed: int = 0,
          options: Callable[[list[str] | None], str] = lambda _choices: "") -> tuple[str, str, list[str] | None]:
    """(input, target, answer choices) of one record; `options(choices)` is the text the `options` variable holds
    (empty in NoOpt mode). Raises RenderError with the reason."""
    choices = answer_choices(tpl, record, seed)
    context = {**protect(record), "answer_choices": choices, "options": options(choices), SEED_KEY: seed}
    parts = run(tpl.jinja, context).split(SEPARATOR)
    if len(parts) != 2:
        found = "no '|||'" if len(parts) == 1 else f"{len(parts) - 1} '|||'"
        raise RenderError("missing_separator", f"the rendered text has {found}; it needs exactly one between the "
                                               "input and the target")
    source, target = (unguard(part).strip() for part in parts)
    if not source:
        raise RenderError("empty_input", "the input renders empty")
    if not target:
        raise RenderError("empty_target", "the target renders empty")
    return source, target, choices
