"""The CPU speed path: numba kernels (lazy Adam on table rows, row scores, cosine gradients) and grouped runs."""
