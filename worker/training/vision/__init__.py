"""Vision-language training (LLaVA-style models in transformers): data, a tiny model, stages, length checks."""

VISION_FORMATS = ("llava", "vision-messages")
