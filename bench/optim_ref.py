#!/usr/bin/python3
# PyTorch reference of the optimizer phase alone (clip_grad_norm_ + LAMB/HF AdamW step + schedule + zero_grad), timed
# per step; bench/optim.ts sends the parameter shapes and interleaves its own steps with these.
#   echo 'setup {"kind": "lamb", "shapes": [["w", [4, 4]]]}' | /usr/bin/python3 bench/optim_ref.py 2   # then `step`
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'scripts', 'fixtures'))
from models_ref import HFAdamW, Lamb, linear_schedule, param_groups  # noqa: E402


def main():
    torch.set_num_threads(int(sys.argv[1]))
    params = opt = sched = None
    for line in sys.stdin:
        cmd, _, rest = line.strip().partition(' ')
        if cmd == 'setup':
            o = json.loads(rest)
            torch.manual_seed(0)
            named = [(n, torch.randn(s).mul_(0.02).requires_grad_()) for n, s in o['shapes']]
            params = [p for _, p in named]
            if o['kind'] == 'lamb':
                opt = Lamb(param_groups(named, 0.01), lr=1e-4, eps=1e-8)
            else:
                opt = HFAdamW(param_groups(named, 0.01), lr=5e-6, eps=1e-8)
            sched = linear_schedule(opt, 1000, 100000)
            print('ok', flush=True)
        elif cmd == 'step':
            for p in params:
                p.grad = torch.randn_like(p)
            c0 = time.process_time()
            t0 = time.perf_counter()
            # As bench/train_ref.py's optimizer phase.
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            t1 = time.perf_counter()
            print(json.dumps({'optim': t1 - t0, 'cpu': time.process_time() - c0}), flush=True)
        else:
            print(json.dumps({'error': f'unknown command {cmd}'}), flush=True)


if __name__ == '__main__':
    main()
