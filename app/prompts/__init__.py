"""The template library: promptsource-form templates per task, versioned, rendered in a sandbox."""
