// `drhard export --format sentence-transformers` (src/models/export.ts): the directory has sentence-transformers'
// layout, and loading it the way SentenceTransformer(dir) does (scripts/fixtures/st_load_ref.py, plain PyTorch:
// Debian has no sentence-transformers) gives drhard's embeddings for the same token ids.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { noGrad, tensor } from '../../src/tensor/index.ts';
import { loadModel, readStateDict, saveStateDict } from '../../src/models/checkpoint.ts';
import { exportSentenceTransformers } from '../../src/models/export.ts';
import { FIX } from './helpers.ts';
import { seededRng } from '../helpers/seed.ts';

const ROOT = path.join(import.meta.dirname, '..', '..');
const TOK = path.join(ROOT, 'test', 'fixtures', 'tokenizers', 'roberta-tiny');
const PY = '/usr/bin/python3';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-export-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

const hasTorch = spawnSync(PY, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;

/** Random RoBERTa-style id rows (<s> … </s>) of different lengths, ids below the fixtures' vocab of 80. */
function idRows(seed: number): { rows: number[][]; tag: string } {
  const { rng, tag } = seededRng(seed);
  const rows = Array.from({ length: 5 }, () => [0, ...Array.from({ length: 2 + rng.int(12) }, () => 3 + rng.int(77)), 2]);
  return { rows, tag };
}

/** drhard's embeddings of `rows` (padded with pad id 1 and masked, as drhard encode batches them). */
function drhardEmbeddings(modelDir: string, rows: number[][], pooling?: 'first' | 'mean'): number[][] {
  const { model } = loadModel(modelDir, { pooling });
  model.eval();
  const L = Math.max(...rows.map((r) => r.length));
  const ids = tensor(rows.flatMap((r) => [...r, ...new Array(L - r.length).fill(1)]), { dtype: 'int64', shape: [rows.length, L] });
  const mask = tensor(rows.flatMap((r) => [...new Array(r.length).fill(1), ...new Array(L - r.length).fill(0)]), { dtype: 'int64', shape: [rows.length, L] });
  const e = noGrad(() => model.encode(ids, mask));
  const flat = e.toArray();
  const D = e.size(1);
  const out = rows.map((_, i) => flat.slice(i * D, (i + 1) * D));
  model.dispose();
  return out;
}

function pythonEmbeddings(dir: string, rows: number[][]): number[][] {
  const idsFile = path.join(tmp, `ids-${path.basename(dir)}.json`);
  const outFile = path.join(tmp, `py-${path.basename(dir)}.json`);
  fs.writeFileSync(idsFile, JSON.stringify(rows));
  const r = spawnSync(PY, [path.join(ROOT, 'scripts', 'fixtures', 'st_load_ref.py'), dir, idsFile, outFile], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(fs.readFileSync(outFile, 'utf8')) as number[][];
}

function maxDiff(a: number[][], b: number[][]): number {
  assert.equal(a.length, b.length);
  let m = 0;
  a.forEach((row, i) => {
    assert.equal(row.length, b[i]!.length);
    row.forEach((x, j) => (m = Math.max(m, Math.abs(x - b[i]![j]!))));
  });
  return m;
}

const readJson = (...p: string[]): Record<string, unknown> => JSON.parse(fs.readFileSync(path.join(...p), 'utf8')) as Record<string, unknown>;

test('a drhard model (mean pooling, 16-d head) exports Transformer → Pooling → Dense → LayerNorm in sentence-transformers\' layout', async () => {
  const out = path.join(tmp, 'st-head');
  const r = await exportSentenceTransformers(path.join(FIX, 'drhard-saved'), out, { tokenizer: TOK });
  assert.deepEqual(r, {
    modules: ['Transformer', 'Pooling', 'Dense', 'LayerNorm'].map((m) => `sentence_transformers.models.${m}`),
    dim: 16,
    pooling: 'mean',
    maxSeqLength: 34,
  });
  const modules = JSON.parse(fs.readFileSync(path.join(out, 'modules.json'), 'utf8')) as Array<Record<string, unknown>>;
  assert.deepEqual(modules.map((m) => m['path']), ['0_Transformer', '1_Pooling', '2_Dense', '3_LayerNorm']);
  assert.deepEqual(modules.map((m) => m['idx']), [0, 1, 2, 3]);
  assert.equal(readJson(out, 'config_sentence_transformers.json')['similarity_fn_name'], 'dot');
  const hf = readJson(out, '0_Transformer', 'config.json');
  assert.deepEqual(hf['architectures'], ['RobertaModel']);
  for (const k of ['pooling', 'embedding_head', 'output_embedding_size', 'mlm_head']) assert.ok(!(k in hf), k);
  assert.deepEqual(readJson(out, '0_Transformer', 'sentence_bert_config.json'), { max_seq_length: 34, do_lower_case: false });
  assert.ok(fs.existsSync(path.join(out, '0_Transformer', 'vocab.json')) && fs.existsSync(path.join(out, '0_Transformer', 'merges.txt')));
  const weights = readStateDict(path.join(out, '0_Transformer', 'model.safetensors'));
  assert.ok([...weights.keys()].every((k) => k.startsWith('embeddings.') || k.startsWith('encoder.')), [...weights.keys()].join(','));
  const pool = readJson(out, '1_Pooling', 'config.json');
  assert.equal(pool['word_embedding_dimension'], 24);
  assert.equal(pool['pooling_mode_mean_tokens'], true);
  assert.equal(pool['pooling_mode_cls_token'], false);
  assert.deepEqual(readJson(out, '2_Dense', 'config.json'), { in_features: 24, out_features: 16, bias: true, activation_function: 'torch.nn.modules.linear.Identity' });
  assert.deepEqual([...readStateDict(path.join(out, '2_Dense', 'model.safetensors')).keys()].sort(), ['linear.bias', 'linear.weight']);
  assert.deepEqual(readJson(out, '3_LayerNorm', 'config.json'), { dimension: 16 });
  assert.deepEqual([...readStateDict(path.join(out, '3_LayerNorm', 'model.safetensors')).keys()].sort(), ['norm.bias', 'norm.weight']);
});

test('loading the export as SentenceTransformer does (plain PyTorch) gives drhard\'s embeddings: with head, and a plain encoder with --pooling first', { skip: hasTorch ? false : `${PY} has no torch` }, async () => {
  const { rows, tag } = idRows(1408);
  const headed = path.join(tmp, 'st-head-py');
  await exportSentenceTransformers(path.join(FIX, 'drhard-saved'), headed, { tokenizer: TOK });
  const err = maxDiff(pythonEmbeddings(headed, rows), drhardEmbeddings(path.join(FIX, 'drhard-saved'), rows));
  assert.ok(err < 1e-5, `head: max abs diff ${err}; ${tag}`);
  // A plain encoder: roberta-tiny without its head.
  const plain = path.join(tmp, 'plain-model');
  fs.mkdirSync(plain);
  const sd = readStateDict(path.join(FIX, 'roberta-tiny', 'model.safetensors'));
  for (const k of ['embeddingHead.weight', 'embeddingHead.bias', 'norm.weight', 'norm.bias']) sd.delete(k);
  saveStateDict(path.join(plain, 'model.safetensors'), sd);
  fs.copyFileSync(path.join(FIX, 'roberta-tiny', 'config.json'), path.join(plain, 'config.json'));
  for (const f of fs.readdirSync(TOK)) fs.copyFileSync(path.join(TOK, f), path.join(plain, f));
  const out = path.join(tmp, 'st-plain');
  const r = await exportSentenceTransformers(plain, out, { pooling: 'first' });
  assert.deepEqual(r.modules, ['sentence_transformers.models.Transformer', 'sentence_transformers.models.Pooling']);
  assert.equal(readJson(out, '1_Pooling', 'config.json')['pooling_mode_cls_token'], true);
  const err2 = maxDiff(pythonEmbeddings(out, rows), drhardEmbeddings(plain, rows, 'first'));
  assert.ok(err2 < 1e-5, `plain: max abs diff ${err2}; ${tag}`);
});

test('CLI: drhard export --format sentence-transformers DIR prints a summary; without a tokenizer it exits 1 and writes nothing', () => {
  const cli = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), 'export', ...args], { cwd: ROOT, encoding: 'utf8' });
  const out = path.join(tmp, 'cli-st');
  const bad = cli('--format', 'sentence-transformers', out, '--model', path.join(FIX, 'drhard-saved'));
  assert.equal(bad.status, 1, bad.stderr);
  assert.match(bad.stderr, /no tokenizer files in the model directory.*--tokenizer/);
  assert.equal(fs.existsSync(out), false);
  const ok = cli('--format', 'sentence-transformers', out, '--model', path.join(FIX, 'drhard-saved'), '--tokenizer', TOK, '--max-seq-length', '20');
  assert.equal(ok.status, 0, ok.stderr);
  const summary = JSON.parse(ok.stdout) as Record<string, unknown>;
  assert.equal(summary['dim'], 16);
  assert.deepEqual(readJson(out, '0_Transformer', 'sentence_bert_config.json'), { max_seq_length: 20, do_lower_case: false });
});
