"""Source datasets: raw records of existing NLP datasets, kept as they are, for templates to render."""
