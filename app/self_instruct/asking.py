"""The prompts a bootstrap sends: sampling the tasks each prompt lists, and the requests for every stage."""

from __future__ import annotations

import random
from typing import Any

from app.backends.requests import ModelRequest
from app.self_instruct import prompts
from app.self_instruct.runtime import Runtime
from app.self_instruct.schemas import SelfInstructParams

INSTANCES_PRESENCE_PENALTY = 1.5  # generate_instances.py


def prompt_input(runtime: Runtime, params: SelfInstructParams, *, number: int, seed_base: str) -> dict[str, Any]:
    """Prompt `number` of the job: up to `machine_instructions` generated tasks and the rest seeds, sampled with a
    random generator seeded by the job's seed and the prompt's number, then shuffled (as the original)."""
    rng = random.Random(f"{seed_base}:{number}")
    machine = rng.sample(runtime.machine, min(params.machine_instructions, len(runtime.machine)))
    seeds = rng.sample(runtime.seeds, min(params.prompt_instructions - len(machine), len(runtime.seeds)))
    listed = machine + seeds
    rng.shuffle(listed)
    if params.mode == "alpaca":
        text = prompts.alpaca_prompt(listed, list_length=params.list_length)
    else:
        text = prompts.self_instruct_prompt([e.instruction for e in listed],
                                            classification=params.classification_only)
    return {"number": number, "prompt": text, "listed": [e.instruction for e in listed], "from_pool": len(machine),
            "next_number": len(listed) + 1}


def _ask(params: SelfInstructParams, text: str) -> dict[str, Any]:
    if params.endpoint == "chat":
        return {"messages": [{"role": "user", "content": text}]}
    return {"prompt": text}


def _penalty(params: SelfInstructParams, value: float, penalties: bool) -> dict[str, Any]:
    """The presence penalty, unless it is 0 or the backend takes none (Tuneloop's model server refuses them)."""
    return {"presence_penalty": value} if params.presence_penalty and penalties else {}


def prompt_request(params: SelfInstructParams, data: dict[str, Any], *, salt: str,
                   penalties: bool = True) -> ModelRequest:
    if params.mode == "alpaca":
        stop = prompts.alpaca_stop(params.list_length)
    else:
        stop = prompts.self_instruct_stop(params.list_length)
        if params.endpoint == "chat":
            stop = stop[1:]  # chat models put blank lines between items; "\n\n" would end the list at its first
    return ModelRequest(backend=params.backend, **_ask(params, data["prompt"]), temperature=params.temperature,
                        top_p=params.top_p, max_tokens=params.max_tokens, stop=stop, seed=params.seed, salt=salt,
                        extra=_penalty(params, params.presence_penalty, penalties))


def classify_request(params: SelfInstructParams, instruction: str) -> ModelRequest:
    """identify_clf_or_not.py: greedy, three tokens, stop at the line's end."""
    return ModelRequest(backend=params.backend, **_ask(params, prompts.is_classification_prompt(instruction)),
                        temperature=0, max_tokens=3, stop=prompts.IS_CLASSIFICATION_STOP)


def instances_request(params: SelfInstructParams, instruction: str, *, classification: bool,
                      penalties: bool = True) -> ModelRequest:
    """generate_instances.py: greedy, stop before one instance too many or the next task."""
    text = prompts.instances_prompt(instruction, classification=classification)
    return ModelRequest(backend=params.backend, **_ask(params, text), temperature=0,
                        max_tokens=params.instances_max_tokens or prompts.instances_max_tokens(classification),
                        stop=prompts.instances_stop(params.max_instances),
                        extra=_penalty(params, INSTANCES_PRESENCE_PENALTY, penalties))
