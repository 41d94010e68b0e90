"""Tuneloop's models, OpenAI-compatibly: /v1 for outside tools (token auth), forwarded to the model server."""
