"""The run page's Generate form, parsed into the API's GenerationCreate with errors named by its inputs."""

from __future__ import annotations

from pydantic import ValidationError

from app.core.forms import invalid_form
from app.generations.schemas import GenerationCreate

# The form's inputs and what GenerationCreate calls them.
INPUTS = {("n",): "n", ("filter", "max_candidates"): "max_candidates", ("filter", "limit"): "limit"}


def parse_generate_form(form: dict[str, str], *, project: str, run_id: int) -> GenerationCreate:
    """n, max_candidates (blank: any) and limit as typed; a 422 names the input, in words."""
    data = {"project": project, "model": run_id, "n": form.get("n") or 1,
            "filter": {"max_candidates": form.get("max_candidates") or None, "limit": form.get("limit") or 100}}
    try:
        return GenerationCreate.model_validate(data)
    except ValidationError as exc:
        raise invalid_form(exc, lambda loc: INPUTS.get(tuple(loc), "form")) from exc
