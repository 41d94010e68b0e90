"""Clusters of embeddings (k-means on unit vectors, scikit-learn's mini-batch variant) with sizes and the items
nearest each centre as samples; and near-duplicate groups (connected components of the near-duplicate pairs)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.curation.neardup import Pairs


@dataclass
class Cluster:
    size: int
    samples: list[int]  # row indices nearest the centre, nearest first


def kmeans(vectors: np.ndarray, k: int, samples: int, seed: int = 0) -> list[Cluster]:
    from sklearn.cluster import MiniBatchKMeans

    data = vectors.astype(np.float32)
    k = max(1, min(k, len(data)))
    model = MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=3, batch_size=4096).fit(data)
    labels = model.labels_
    centres = model.cluster_centers_
    out = []
    for label in range(k):
        rows = np.flatnonzero(labels == label)
        if not len(rows):
            continue
        closeness = data[rows] @ centres[label]
        out.append(Cluster(size=len(rows), samples=rows[np.argsort(-closeness)[:samples]].tolist()))
    return sorted(out, key=lambda c: -c.size)


def groups(n: int, pairs: Pairs) -> list[list[int]]:
    """Near-duplicate groups of two or more rows, largest first, each in row order."""
    if not len(pairs):
        return []
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(len(pairs)), (pairs.i, pairs.j)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    counts = np.bincount(labels)
    members: dict[int, list[int]] = {}
    for row in np.flatnonzero(counts[labels] >= 2).tolist():
        members.setdefault(int(labels[row]), []).append(row)
    return sorted(members.values(), key=lambda g: (-len(g), g[0]))
