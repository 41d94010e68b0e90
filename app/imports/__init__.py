"""Bulk import from files (Alpaca, messages, ShareGPT, Self-Instruct, prompt-completion) through the ingest path."""
