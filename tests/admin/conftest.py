"""Admin tests reuse the review fixtures (projects, instructions, annotations)."""

from tests.review.conftest import annotate, make_instruction, make_project  # noqa: F401
