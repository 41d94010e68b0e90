"""promptsource's templates.yaml, read and written unchanged.

promptsource writes its files with `yaml.dump` of {"dataset", "subset"?, "templates": {id: !Template}}, each
template a `!Template` mapping (answer_choices, id, jinja, metadata, name, reference) and its metadata a
`!TemplateMetadata` mapping (choices_in_prompt, languages, metrics, original_task). Keys come sorted, in block
style. Reading keeps every key (also ones a later promptsource adds, and which known keys a file left out), and
writing goes through the same dumper settings, so a file read and written back is the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

TEMPLATE_TAG = "!Template"
METADATA_TAG = "!TemplateMetadata"
TEMPLATE_KEYS = ("answer_choices", "id", "jinja", "metadata", "name", "reference")
METADATA_KEYS = ("choices_in_prompt", "languages", "metrics", "original_task")


class TaggedTemplate(dict):
    """A !Template mapping."""


class TaggedMetadata(dict):
    """A !TemplateMetadata mapping."""


class _Loader(yaml.SafeLoader):
    """Safe loading (no Python objects) that understands promptsource's two tags."""


def _template(loader: yaml.SafeLoader, node: yaml.MappingNode) -> TaggedTemplate:
    return TaggedTemplate(loader.construct_mapping(node, deep=True))


def _metadata(loader: yaml.SafeLoader, node: yaml.MappingNode) -> TaggedMetadata:
    return TaggedMetadata(loader.construct_mapping(node, deep=True))


_Loader.add_constructor(TEMPLATE_TAG, _template)
_Loader.add_constructor(METADATA_TAG, _metadata)


class _Dumper(yaml.SafeDumper):
    """yaml.dump's defaults (block style, sorted keys, width 80, ASCII), plus the two tags."""


_Dumper.add_representer(TaggedTemplate, lambda d, data: d.represent_mapping(TEMPLATE_TAG, dict(data)))
_Dumper.add_representer(TaggedMetadata, lambda d, data: d.represent_mapping(METADATA_TAG, dict(data)))


class PromptsourceError(ValueError):
    """The file is not a promptsource templates.yaml; the message says where."""


@dataclass
class SourceTemplate:
    """One template of a file, in our fields; `extra` holds what we write back but do not use."""

    uid: str
    name: str
    jinja: str
    answer_choices: str | None
    reference: str
    metadata: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class SourceFile:
    dataset: str
    subset: str | None
    templates: list[SourceTemplate]

    @property
    def task(self) -> str:
        """Our task name for the file: dataset, or dataset/subset."""
        return f"{self.dataset}/{self.subset}" if self.subset else self.dataset


def _text(value: Any, where: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise PromptsourceError(f"{where} must be text, not {type(value).__name__}")
    return value


def parse(text: str) -> SourceFile:
    """Read a templates.yaml; raises PromptsourceError naming what is wrong."""
    try:
        doc = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise PromptsourceError(f"not valid YAML: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("templates"), dict):
        raise PromptsourceError("a promptsource file is a mapping with 'dataset' and 'templates'")
    unknown = set(doc) - {"dataset", "subset", "templates"}
    if unknown:
        raise PromptsourceError(f"unknown top-level keys: {', '.join(sorted(map(str, unknown)))}")
    dataset = _text(doc.get("dataset"), "'dataset'")
    subset = _text(doc.get("subset"), "'subset'", optional=True)
    templates = []
    for key, raw in doc["templates"].items():
        where = f"template {key}"
        if not isinstance(raw, TaggedTemplate):
            raise PromptsourceError(f"{where} is not a !Template mapping")
        meta_raw = raw.get("metadata")
        if meta_raw is not None and not isinstance(meta_raw, TaggedMetadata):
            raise PromptsourceError(f"{where}: 'metadata' is not a !TemplateMetadata mapping")
        if str(raw.get("id", key)) != str(key):
            raise PromptsourceError(f"{where}: its 'id' ({raw.get('id')}) differs from its key")
        metadata = {k: v for k, v in (meta_raw or {}).items() if k in METADATA_KEYS}
        extra = {
            "template": {k: v for k, v in raw.items() if k not in TEMPLATE_KEYS},
            "metadata": {k: v for k, v in (meta_raw or {}).items() if k not in METADATA_KEYS},
            "absent": sorted(k for k in TEMPLATE_KEYS if k not in raw),
            "metadata_absent": sorted(k for k in METADATA_KEYS if k not in (meta_raw or {})),
            "dataset": dataset, "subset": subset,
        }
        if meta_raw is None:
            extra["metadata_absent"] = ["*"]
        templates.append(SourceTemplate(
            uid=str(key), name=_text(raw.get("name"), f"{where}: 'name'"),
            jinja=_text(raw.get("jinja"), f"{where}: 'jinja'"),
            answer_choices=_text(raw.get("answer_choices"), f"{where}: 'answer_choices'", optional=True),
            reference=_text(raw.get("reference", ""), f"{where}: 'reference'") or "",
            metadata=metadata, extra=extra))
    return SourceFile(dataset, subset, templates)


def _template_mapping(t: SourceTemplate) -> TaggedTemplate:
    extra = t.extra or {}
    out: dict[str, Any] = {"answer_choices": t.answer_choices, "id": t.uid, "jinja": t.jinja, "name": t.name,
                           "reference": t.reference}
    if extra.get("metadata_absent") != ["*"]:
        meta = {k: t.metadata.get(k) for k in METADATA_KEYS if k not in extra.get("metadata_absent", [])}
        out["metadata"] = TaggedMetadata({**meta, **extra.get("metadata", {})})
    for key in extra.get("absent", []):
        out.pop(key, None)
    out.update(extra.get("template", {}))
    return TaggedTemplate(out)


def dump(file: SourceFile) -> str:
    """The file as promptsource writes it."""
    doc: dict[str, Any] = {"dataset": file.dataset,
                           "templates": {t.uid: _template_mapping(t) for t in file.templates}}
    if file.subset:
        doc["subset"] = file.subset
    return yaml.dump(doc, Dumper=_Dumper, default_flow_style=False, sort_keys=True)
