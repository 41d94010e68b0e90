"""Curation: quality filters and scores, embeddings and near-duplicates, subsets, ablations (issue 17)."""
