// `drhard embed` and the batch-encoding helpers: ids and text inputs, order preserved across length-sorted
// batches, DRhard truncation, and input errors with exit codes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { tensor } from '../../src/tensor/index.ts';
import { loadModel, readStateDict } from '../../src/models/checkpoint.ts';
import { encodeIds, truncateIds } from '../../src/models/encode.ts';
import { FIX, maxAbsDiff } from './helpers.ts';

const ROOT = path.join(import.meta.dirname, '..', '..');
const ROBERTA = path.join(FIX, 'roberta-tiny');

function drhard(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, DRHARD_NUM_THREADS: '1' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The fixture's padded rows as plain id lists, and the PyTorch embeddings of them. */
function fixtureRows(): { seqs: number[][]; emb: number[][] } {
  const ref = readStateDict(path.join(FIX, 'roberta-tiny.ref.safetensors'));
  const ids = ref.get('emb_ids')!.toArray();
  const mask = ref.get('emb_mask')!.toArray();
  const [n, l] = ref.get('emb_ids')!.shape as [number, number];
  const seqs = Array.from({ length: n }, (_, i) => ids.slice(i * l, (i + 1) * l).filter((_, j) => mask[i * l + j] === 1));
  const e = ref.get('emb')!;
  const d = e.shape[1]!;
  const flat = e.toArray();
  return { seqs, emb: Array.from({ length: n }, (_, i) => flat.slice(i * d, (i + 1) * d)) };
}

test('encodeIds: length-sorted batches return rows in input order, matching PyTorch', () => {
  const { seqs, emb } = fixtureRows();
  const { model } = loadModel(ROBERTA);
  model.train(); // encodeIds switches to eval and back
  const out = encodeIds(model, seqs, { batchSize: 2 });
  assert.equal(model.training, true);
  assert.ok(maxAbsDiff(tensor(out, { shape: [seqs.length, 24] }), tensor(emb)) <= 1e-5);
  model.dispose();
});

test('truncateIds keeps the first and last token (DRhard SequenceDataset)', () => {
  assert.deepEqual(truncateIds([0, 5, 6, 7, 2], 4), [0, 5, 6, 2]);
  assert.deepEqual(truncateIds([0, 5, 2], 4), [0, 5, 2]);
});

test('drhard embed --ids writes the embeddings as JSON', () => {
  const { seqs, emb } = fixtureRows();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-embed-'));
  const ids = path.join(dir, 'ids.json');
  fs.writeFileSync(ids, JSON.stringify(seqs));
  const out = path.join(dir, 'out.json');
  const r = drhard('embed', '--model', ROBERTA, '--token-ids', ids, '--batch-size', '3', '--out', out);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '', '--output keeps stdout empty');
  const got = JSON.parse(fs.readFileSync(out, 'utf8')) as number[][];
  assert.equal(got.length, seqs.length);
  assert.ok(maxAbsDiff(tensor(got), tensor(emb)) <= 1e-5);
  const bf = drhard('embed', '--model', ROBERTA, '--token-ids', ids, '--dtype', 'bfloat16');
  assert.equal(bf.code, 0, bf.stderr);
  const dev = maxAbsDiff(tensor(JSON.parse(bf.stdout) as number[][]), tensor(emb));
  assert.ok(dev > 0 && dev < 0.05, `bf16 deviation ${dev}`);
});

test('drhard embed --text tokenizes with the model directory tokenizer', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-embed-'));
  for (const f of ['config.json', 'model.safetensors']) fs.copyFileSync(path.join(ROBERTA, f), path.join(dir, f));
  const vocab: Record<string, number> = { '<s>': 0, '<pad>': 1, '</s>': 2, '<unk>': 3, hello: 4, dense: 5, retrieval: 6 };
  const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  fs.writeFileSync(
    path.join(dir, 'tokenizer.json'),
    JSON.stringify({
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: [special(0, '<s>'), special(1, '<pad>'), special(2, '</s>'), special(3, '<unk>')],
      normalizer: null,
      pre_tokenizer: { type: 'Whitespace' },
      post_processor: {
        type: 'TemplateProcessing',
        single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
        pair: [{ Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
        special_tokens: { '<s>': { id: '<s>', ids: [0], tokens: ['<s>'] }, '</s>': { id: '</s>', ids: [2], tokens: ['</s>'] } },
      },
      decoder: null,
      model: { type: 'WordLevel', vocab, unk_token: '<unk>' },
    }),
  );
  fs.writeFileSync(path.join(dir, 'texts.txt'), 'hello dense retrieval\nretrieval\n');
  fs.writeFileSync(path.join(dir, 'ids.json'), JSON.stringify([[0, 4, 5, 6, 2], [0, 6, 2]]));
  const t = drhard('embed', '--model', dir, '--text', path.join(dir, 'texts.txt'));
  assert.equal(t.code, 0, t.stderr);
  const i = drhard('embed', '--model', dir, '--token-ids', path.join(dir, 'ids.json'));
  assert.equal(i.code, 0, i.stderr);
  assert.deepEqual(JSON.parse(t.stdout), JSON.parse(i.stdout));
});

test('drhard embed: usage errors exit 2, bad input files exit 1 naming the problem', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-embed-'));
  const bad = path.join(dir, 'bad.json');
  fs.writeFileSync(bad, '[[0, 5, 2], [0, 99, 2]]');
  let r = drhard('embed', '--model', ROBERTA, '--token-ids', bad);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /bad\.json: \[1\]\[1\]: token id 99 is not an integer in \[0, 80\)/);
  fs.writeFileSync(bad, '{"a": 1}');
  assert.match(drhard('embed', '--model', ROBERTA, '--token-ids', bad).stderr, /expected a JSON array/);
  r = drhard('embed', '--model', ROBERTA, '--dtype', 'int8');
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--dtype: /);
  r = drhard('embed', '--model', ROBERTA);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /exactly one of --token-ids and --text/);
  r = drhard('embed', '--model', dir, '--token-ids', bad);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /config\.json: cannot read \(ENOENT\)/);
});
