# PyTorch / Python-faiss side of bench/tensor.ts: per-op call overhead and IndexFlatIP QPS. Prints one JSON object.
import json, sys, time
import numpy as np
import torch

threads = int(sys.argv[1]); iters = int(sys.argv[2]); n_docs = int(sys.argv[3]); dim = int(sys.argv[4])
n_q = int(sys.argv[5]); k = int(sys.argv[6])
torch.set_num_threads(threads)
torch.manual_seed(0)
x = torch.randn(16); m = torch.randn(16, 16); idx = torch.tensor([3, 1, 7])

def timeit(fn):
    for _ in range(iters // 10): fn()
    t = time.perf_counter()
    for _ in range(iters): fn()
    return (time.perf_counter() - t) / iters * 1e6

out = {"ops_us": {
    "add_scalar[16]": timeit(lambda: x + 1.0),
    "mul[16]": timeit(lambda: x * x),
    "relu[16]": timeit(lambda: torch.relu(x)),
    "sum[16]": timeit(lambda: x.sum()),
    "matmul[16x16]": timeit(lambda: m @ m),
    "index_select": timeit(lambda: m.index_select(0, idx)),
    "softmax[16x16]": timeit(lambda: m.softmax(1)),
}}
if n_docs > 0:
    import faiss
    faiss.omp_set_num_threads(threads)
    rng = np.random.default_rng(0)
    docs = rng.standard_normal((n_docs, dim), dtype=np.float32)
    qs = rng.standard_normal((n_q, dim), dtype=np.float32)
    ix = faiss.IndexFlatIP(dim); ix.add(docs)
    ix.search(qs[:16], k)
    t = time.perf_counter(); ix.search(qs, k); dt = time.perf_counter() - t
    out["faiss_qps"] = n_q / dt
print(json.dumps(out))
