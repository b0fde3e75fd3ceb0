# ANN-free reference for bench/scale.ts: exact top-k by inner product of a sample of queries against a raw float32
# embeddings file, summed in float64 and rounded once to float32 (ties: lower offset first), read in blocks.
# Run with /usr/bin/python3 (NumPy): scale_ref.py CORPUS QUERIES DIM SAMPLE K  → {"query offset": [doc offsets]}
import json
import os
import sys

import numpy as np

corpus, queries, dim, sample, k = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
q_all = np.fromfile(queries, dtype=np.float32).reshape(-1, dim)
picks = [i * len(q_all) // sample for i in range(sample)]
q = q_all[picks].astype(np.float64)
n = os.path.getsize(corpus) // (4 * dim)
block = 131072
best_s = np.full((sample, 0), -np.inf, dtype=np.float32)
best_i = np.zeros((sample, 0), dtype=np.int64)
for start in range(0, n, block):
    rows = min(block, n - start)
    x = np.fromfile(corpus, dtype=np.float32, count=rows * dim, offset=start * dim * 4).reshape(rows, dim)
    s = (q @ x.astype(np.float64).T).astype(np.float32)  # [sample, rows]
    ids = np.broadcast_to(np.arange(start, start + rows, dtype=np.int64), s.shape)
    cs = np.concatenate([best_s, s], axis=1)
    ci = np.concatenate([best_i, ids], axis=1)
    keep_s = np.empty((sample, min(k, cs.shape[1])), dtype=np.float32)
    keep_i = np.empty(keep_s.shape, dtype=np.int64)
    for r in range(sample):
        # Candidates: everything at or above the k-th largest score, then an exact (score desc, id asc) order.
        kth = np.partition(cs[r], -keep_s.shape[1])[-keep_s.shape[1]]
        m = cs[r] >= kth
        order = np.lexsort((ci[r][m], -cs[r][m]))[: keep_s.shape[1]]
        keep_s[r] = cs[r][m][order]
        keep_i[r] = ci[r][m][order]
    best_s, best_i = keep_s, keep_i
print(json.dumps({str(p): best_i[r].tolist() for r, p in enumerate(picks)}))
