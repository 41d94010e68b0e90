"""The answer job: ask a backend for N answers to chosen instructions and add them as candidates."""
