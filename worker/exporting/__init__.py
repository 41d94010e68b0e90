"""Export writers that need the training stack (the web process never imports them)."""
