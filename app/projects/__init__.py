"""Projects: a body of instructions with guidelines and annotation settings."""
