#!/usr/bin/python3
# Python side of bench/retrieval.ts: faiss IndexFlatIP and torch mm+topk exact search, and encoder throughput with
# the reference model (scripts/fixtures/models_ref.py), driven line by line so runs interleave with drhard's.
#   stdin "search <json {N, D, B, k}>" -> "ok"   builds random docs/queries, an IndexFlatIP, warms up
#   stdin "faiss"                      -> "<seconds>"  one timed IndexFlatIP search of the B queries
#   stdin "torchmm"                    -> "<seconds>"  one timed mm + topk in blocks of 256 queries
#   stdin "encode <json case>"         -> "ok"   builds the model and N docs x L tokens
#   stdin "encoderun"                  -> "<seconds>"  one timed encode of the N docs in batches
# Usage: retrieval_ref.py THREADS
import json
import os
import sys
import time

import faiss
import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'scripts', 'fixtures'))
from models_ref import Config, Dot  # noqa: E402


def main():
    threads = int(sys.argv[1])
    torch.set_num_threads(threads)
    faiss.omp_set_num_threads(threads)
    state = {}
    for line in sys.stdin:
        cmd, _, arg = line.strip().partition(' ')
        if cmd == 'search':
            state.clear()
            c = json.loads(arg)
            rng = np.random.default_rng(0)
            docs = rng.standard_normal((c['N'], c['D']), dtype=np.float32)
            q = rng.standard_normal((c['B'], c['D']), dtype=np.float32)
            ix = faiss.IndexFlatIP(c['D'])
            ix.add(docs)
            state.update(ix=ix, q=q, k=c['k'], td=torch.from_numpy(docs), tq=torch.from_numpy(q))
            ix.search(q[:32], c['k'])
            print('ok', flush=True)
        elif cmd == 'faiss':
            t = time.perf_counter()
            state['ix'].search(state['q'], state['k'])
            print(time.perf_counter() - t, flush=True)
        elif cmd == 'torchmm':
            tq, td, k = state['tq'], state['td'], state['k']
            t = time.perf_counter()
            with torch.no_grad():
                for s in range(0, tq.shape[0], 256):
                    torch.topk(tq[s:s + 256] @ td.T, k, dim=1)
            print(time.perf_counter() - t, flush=True)
        elif cmd == 'encode':
            state.clear()
            c = json.loads(arg)
            cfg = Config(c['config'])
            torch.manual_seed(0)
            model = Dot(cfg)
            model.eval()
            n, length = c['docs'], c['length']
            ids = torch.randint(3, cfg.vocab_size, (n, length))
            mask = torch.ones(n, length, dtype=torch.long)

            def run():
                with torch.no_grad():
                    for s in range(0, n, c['batch']):
                        model.encode(ids[s:s + c['batch']], mask[s:s + c['batch']]).numpy()
            run()
            state['run'] = run
            print('ok', flush=True)
        elif cmd == 'encoderun':
            t = time.perf_counter()
            state['run']()
            print(time.perf_counter() - t, flush=True)
        else:
            print(f'unknown command {cmd}', flush=True)


if __name__ == '__main__':
    main()
