"""Exports: approved data as immutable, versioned snapshots in the formats trainers read."""
