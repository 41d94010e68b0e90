"""Ready-made recipes: chain-of-thought templates with their input inversions, and the Flan 2022 mixture.

The CoT templates read records with `question`, `answer` and `cot` fields (the chain of thought), as Flan's
CoT datasets have them; the inversions ask for the question from the reasoning and answer, and for the
reasoning from the question and answer (Flan's input inversion).
"""

from __future__ import annotations

from typing import Any

COT_TEMPLATES: list[dict[str, Any]] = [
    {"name": "cot_think_first", "type": "cot",
     "jinja": "{{ question }} Let's think first. Chain of thought: ||| {{ cot }}\nTherefore, the answer is "
              "{{ answer }}.",
     "metadata": {"original_task": True, "metrics": ["Accuracy"], "languages": ["en"]},
     "few_shot": {"input_prefix": "Q: ", "target_prefix": "A: ", "delimiter": "\n", "separator": "\n\n"}},
    {"name": "cot_step_by_step", "type": "cot",
     "jinja": "Question: {{ question }}\nAnswer the question step by step. ||| {{ cot }}\nTherefore, the answer "
              "is {{ answer }}.",
     "metadata": {"original_task": True, "metrics": ["Accuracy"], "languages": ["en"]}},
    {"name": "inverted_question_from_cot", "type": "inverted",
     "jinja": "Reasoning: {{ cot }}\nAnswer: {{ answer }}\nWhat was the question? ||| {{ question }}",
     "metadata": {"original_task": False, "metrics": ["BLEU"], "languages": ["en"]}},
    {"name": "inverted_cot_from_answer", "type": "inverted",
     "jinja": "Question: {{ question }}\nAnswer: {{ answer }}\nExplain the reasoning that leads to this answer. "
              "||| {{ cot }}",
     "metadata": {"original_task": False, "metrics": ["BLEU"], "languages": ["en"]}},
]

TEMPLATE_PRESETS = {"cot": COT_TEMPLATES}

# Flan 2022 (Longpre et al. 2023): source weights, per-task caps (examples-proportional mixing with a cap),
# and inverted rows at 0.3 of the weight of the others.
FLAN_2022: dict[str, Any] = {
    "weights": {"Flan2021": 0.40, "T0": 0.32, "CoT": 0.20, "NIv2": 0.05, "Dialog": 0.03},
    "caps": {"Flan2021": 30_000, "T0": 20_000, "CoT": 100_000, "NIv2": 5_000, "Dialog": 200_000},
    "settings": {"zs-opt": 0.25, "fs-opt": 0.25, "zs-noopt": 0.25, "fs-noopt": 0.25},
    "inverted_weight": 0.3,
}
MIXTURE_PRESETS = {"flan2022": FLAN_2022}
