#!/usr/bin/python3
# PyTorch (+ Python faiss) reference of one STAR / ADORE training step, timed; bench/train.ts runs it and compares.
#
#   echo 'setup {"method": "star", "config": "tiny"}' | /usr/bin/python3 bench/train_ref.py 2   # then `step` lines
#
# STAR: DRhard's TrainInbatchWithHardDataset + triple_get_collate_function (random.choice positive, random.sample of
# the mined list, pack_tensor_2D, rel/hard pair masks from the qrels) → encode queries, positives, hard docs →
# inbatch_train loss → backward → clip_grad_norm_ → LAMB → schedule. ADORE: adore/train.py's step (encode, faiss Flat
# IP search of the detached embeddings, the per-query loss loop, backward, clip, AdamW, schedule). The model is the
# HF-equivalent RobertaDot of scripts/fixtures/models_ref.py. Each `step` prints that step's seconds, split by phase.
import argparse
import json
import os
import random
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'scripts', 'fixtures'))
from models_ref import Config, Dot, HFAdamW, Lamb, linear_schedule, param_groups, star_loss  # noqa: E402

CONFIGS = {
    'tiny': dict(hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024, vocab_size=8192),
    'base': dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072, vocab_size=8192),
}


def make_config(name):
    return Config(dict(CONFIGS[name], model_type='roberta', max_position_embeddings=514, type_vocab_size=1, pad_token_id=1,
                       layer_norm_eps=1e-5, hidden_act='gelu', initializer_range=0.02, hidden_dropout_prob=0.1,
                       attention_probs_dropout_prob=0.1))


def rows(n, length, vocab, rng):
    """Token rows <s> … </s> of full length (the bench measures full-length batches on both sides)."""
    return [[0] + [rng.randrange(3, vocab) for _ in range(length - 2)] + [2] for _ in range(n)]


def pack(lstlst, default, length=None):
    """dataset.pack_tensor_2D"""
    length = length if length is not None else max(len(x) for x in lstlst)
    t = default * torch.ones((len(lstlst), length), dtype=torch.int64)
    for i, x in enumerate(lstlst):
        t[i, :len(x)] = torch.tensor(x, dtype=torch.int64)
    return t


class Star:
    def __init__(self, args, cfg):
        self.args = args
        self.rng = random.Random(args.seed)
        torch.manual_seed(args.seed)
        rng = self.rng
        self.nq, nd = 2048, 4096
        self.queries = rows(self.nq, args.query_len, cfg.vocab_size, rng)
        self.docs = rows(nd, args.doc_len, cfg.vocab_size, rng)
        self.rel = {q: [rng.randrange(nd)] for q in range(self.nq)}
        self.hard = {q: rng.sample(range(nd), 200) for q in range(self.nq)}
        self.model = Dot(cfg)
        self.model.train()
        self.opt = Lamb(param_groups(list(self.model.named_parameters()), 0.01), lr=1e-4, eps=1e-8)
        self.sched = linear_schedule(self.opt, 1000, 100000)
        self.order = list(range(self.nq))
        rng.shuffle(self.order)
        self.n = 0

    def step(self):
        a, rng, model = self.args, self.rng, self.model
        t0 = time.perf_counter()
        qs = self.order[(self.n * a.batch) % self.nq:][:a.batch]
        self.n += 1
        queries, docs, rel = self.queries, self.docs, self.rel
        pos = [rng.choice(rel[q]) for q in qs]
        hd = [h for q in qs for h in rng.sample(self.hard[q], a.hard_num)]
        qi = pack([queries[q] for q in qs], 1)
        qm = pack([[1] * len(queries[q]) for q in qs], 0)
        di = pack([docs[d] for d in pos], 1)
        dm = pack([[1] * len(docs[d]) for d in pos], 0)
        hi = pack([docs[d] for d in hd], 1)
        hm = pack([[1] * len(docs[d]) for d in hd], 0)
        rel_mask = torch.FloatTensor([[1 if d not in rel[q] else 0 for d in pos] for q in qs])
        hard_mask = torch.FloatTensor([[1 if d not in rel[q] else 0 for d in hd] for q in qs])
        t1 = time.perf_counter()
        loss = star_loss(model.encode(qi, qm), model.encode(di, dm), model.encode(hi, hm), rel_mask, hard_mask)
        loss.backward()
        t2 = time.perf_counter()
        c2 = time.process_time()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        self.opt.step()
        self.sched.step()
        model.zero_grad()
        t3 = time.perf_counter()
        optim_cpu = time.process_time() - c2
        # forwardBackward includes the collation, as drhard's pairStep builds its token batches itself.
        return {'step': t3 - t0, 'data': t1 - t0, 'forwardBackward': t2 - t0, 'optim': t3 - t2, 'optimCpu': optim_cpu}


class Adore:
    def __init__(self, args, cfg):
        import faiss
        faiss.omp_set_num_threads(args.threads)
        self.args = args
        self.rng = random.Random(args.seed)
        torch.manual_seed(args.seed)
        self.nq = 2048
        self.queries = rows(self.nq, args.query_len, cfg.vocab_size, self.rng)
        gen = np.random.default_rng(args.seed)
        self.emb = gen.standard_normal((args.docs, cfg.hidden_size), dtype=np.float32)
        self.rel = {q: [int(gen.integers(args.docs))] for q in range(self.nq)}
        self.index = faiss.index_factory(cfg.hidden_size, 'Flat', faiss.METRIC_INNER_PRODUCT)
        self.index.add(self.emb)
        self.model = Dot(cfg)
        self.model.train()
        self.opt = HFAdamW(param_groups(list(self.model.named_parameters()), 0.01), lr=5e-6, eps=1e-8)
        self.sched = linear_schedule(self.opt, 2000, 100000)

    def step(self):
        a, rng, model, emb = self.args, self.rng, self.model, self.emb
        t0 = time.perf_counter()
        qs = [rng.randrange(self.nq) for _ in range(a.batch)]
        qi = pack([self.queries[q] for q in qs], 1)
        qm = pack([[1] * len(self.queries[q]) for q in qs], 0)
        all_rel = [self.rel[q] for q in qs]
        q_emb = model.encode(qi, qm)
        t1 = time.perf_counter()
        nearest = self.index.search(q_emb.detach().cpu().numpy(), a.neg_topk)[1]
        t2 = time.perf_counter()
        loss = 0
        for retrieve_pids, cur_rel, qe in zip(nearest, all_rel, q_emb):
            target = np.isin(retrieve_pids, cur_rel).astype(np.int32)
            if np.sum(target) == 0:
                retrieve_pids = np.hstack([retrieve_pids, cur_rel])
                target = np.hstack([target, [True] * len(cur_rel)])
            target = target.reshape(-1, 1)
            rel_diff = target - target.T
            pos_pairs = torch.FloatTensor((rel_diff > 0).astype(np.float32))
            neg_pairs = torch.FloatTensor((rel_diff < 0).astype(np.float32))
            num_pairs = 2 * pos_pairs.sum()
            d = torch.FloatTensor(emb[retrieve_pids])
            y = (qe.unsqueeze(0) * d).sum(-1, keepdim=True)
            c = pos_pairs * torch.log(1 + torch.exp(-(y - y.t()))) + neg_pairs * torch.log(1 + torch.exp(y - y.t()))
            arr = 1 / (torch.arange(1, 1 + len(y)).float())
            arr[a.metric_cut:] = 0
            w = torch.abs(arr.view(-1, 1) - arr.view(1, -1))
            loss = loss + torch.sum(c * w, (0, 1)) / num_pairs
        loss = loss / a.batch
        loss.backward()
        t3 = time.perf_counter()
        c3 = time.process_time()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        self.opt.step()
        self.sched.step()
        model.zero_grad()
        t4 = time.perf_counter()
        return {'step': t4 - t0, 'encode': t1 - t0, 'search': t2 - t1, 'loss': t3 - t2, 'optim': t4 - t3, 'optimCpu': time.process_time() - c3}


def main():
    """Line protocol on stdin/stdout: `setup <json options>` → `ok`; `step` → one step's timings as JSON."""
    torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
    bench = None
    for line in sys.stdin:
        cmd, _, rest = line.strip().partition(' ')
        if cmd == 'setup':
            o = json.loads(rest)
            args = argparse.Namespace(**{**DEFAULTS, **o, 'threads': torch.get_num_threads()})
            cfg = make_config(args.config)
            bench = Star(args, cfg) if args.method == 'star' else Adore(args, cfg)
            print('ok', flush=True)
        elif cmd == 'step':
            c0 = time.process_time()
            r = bench.step()
            # CPU seconds of the whole process: less sensitive than wall time to other load on a shared machine.
            r['cpu'] = time.process_time() - c0
            print(json.dumps(r), flush=True)
        else:
            print(json.dumps({'error': f'unknown command {cmd}'}), flush=True)


DEFAULTS = dict(method='star', config='tiny', seed=42, batch=32, query_len=24, doc_len=120, hard_num=1, docs=100000,
                neg_topk=200, metric_cut=200)


if __name__ == '__main__':
    main()
