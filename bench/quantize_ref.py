# PyTorch side of bench/quantize.ts: the same symmetric per-row int8 coding in torch ops (s = max|x|/127, codes
# round(x/s) clamped, float64 norms of x, x − s·codes and s·codes); one command per line; out: wall and
# process CPU seconds of the fastest call.
import sys, time
import torch

torch.set_num_threads(int(sys.argv[1]))
torch.manual_seed(0)

def code(x):
    s = (x.abs().amax(1).double() / 127).float()
    inv = torch.where(s > 0, 1 / s, torch.zeros_like(s))
    q = torch.round(x * inv[:, None]).clamp_(-127, 127)
    codes = q.to(torch.int8)
    xd = x.double(); sc = s.double()[:, None] * q.double()
    norms = torch.stack([xd.norm(dim=1), (xd - sc).norm(dim=1), sc.norm(dim=1)], 1)
    return codes, s, q.sum(1, dtype=torch.int32), norms

for line in sys.stdin:
    n, d, reps = (int(v) for v in line.split())
    x = torch.randn(n, d)
    best = (float("inf"), 0.0)
    for _ in range(reps):
        t = time.perf_counter(); c = time.process_time(); code(x)
        wall = time.perf_counter() - t
        if wall < best[0]: best = (wall, time.process_time() - c)
    del x
    print(best[0], best[1], flush=True)
