"""LLaVA's visual instruction data from captions and boxes: the `llava-generate` job kind."""
