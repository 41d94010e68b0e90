"""Flan: render source datasets through templates into instructions, and mix them by recipe."""
