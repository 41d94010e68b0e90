"""Generation jobs: a base or tuned model writes new candidates for annotators."""
