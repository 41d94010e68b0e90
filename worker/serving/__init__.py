"""Tuneloop's model server: local models served OpenAI-compatibly, many requests batched on one engine.

The engine modules (settings, params, loading, sampling, kv, text, scheduler, batch, scoring, static, engine,
vllm_engine) are a pure library like worker.training: torch and transformers, never app, sqlalchemy or fastapi.
The server modules (registry, protocol, server) add the database and HTTP around them.
"""
