"""Model backends: named endpoints, one OpenAI-compatible client, a rate limit shared by every worker."""
