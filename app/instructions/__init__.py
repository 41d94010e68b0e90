"""Instructions: ingest (validated, upserted in bulk), list, read, edit and delete."""
