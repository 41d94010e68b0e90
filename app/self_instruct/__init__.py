"""Self-Instruct and Alpaca bootstrapping: the self-instruct job kind, its prompts, filters and novelty check."""
