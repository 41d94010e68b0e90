"""The one job engine: every method that asks a model (or works item by item) is a kind plugged into it."""
