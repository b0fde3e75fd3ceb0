// `drhard init-model` writes a fresh model directory (config derived from the tokenizer, seeded weights, tokenizer
// files) that loadModel and `drhard train --init` accept; models written by training carry their tokenizer, so
// `drhard embed --text` and `drhard search --query` work on them directly; datasets keep a copy of their tokenizer.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadModel } from '../../src/models/checkpoint.ts';
import { openDataset } from '../../src/data/dataset.ts';
import { findTokenizerDir, loadTokenizer } from '../../src/tokenizers/index.ts';
import { trainDualEncoder } from '../../src/train/index.ts';
import { makeDataset, quiet, TINY_CONFIG, tmpDir, TOKENIZER, type SyntheticData } from '../train/helpers.ts';

const ROOT = path.join(import.meta.dirname, '..', '..');
const BERT_TOK = path.join(ROOT, 'test', 'fixtures', 'tokenizers', 'bert-tiny');
let d: SyntheticData;
let dir: string;

function cli(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, DRHARD_LOG_LEVEL: 'warn', DRHARD_NUM_THREADS: '1' },
    timeout: 180_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

before(async () => {
  d = await makeDataset({ docs: 80, train: 24, dev: 8 });
  dir = tmpDir('drhard-init-model-');
});
after(() => {
  fs.rmSync(d.dir, { recursive: true, force: true });
  fs.rmSync(dir, { recursive: true, force: true });
});

const TINY = ['--hidden-size', '32', '--layers', '1', '--heads', '2', '--max-length', '40'];

test('RoBERTa from a BPE tokenizer: config derived from it, seeded weights, tokenizer files, parameter count', async () => {
  const out = path.join(dir, 'roberta');
  const r = cli(['init-model', '--out-dir', out, '--tokenizer', TOKENIZER, ...TINY, '--seed', '3']);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout) as Record<string, unknown>;
  const tok = await loadTokenizer(TOKENIZER);
  const { model } = loadModel(out);
  try {
    const c = model.config;
    assert.equal(c.modelType, 'roberta');
    assert.equal(c.vocabSize, tok.vocabSize);
    assert.equal(c.padTokenId, tok.padId);
    assert.equal(c.maxPositionEmbeddings, 40 + tok.padId + 1);
    assert.deepEqual([c.hiddenSize, c.numHiddenLayers, c.numAttentionHeads, c.intermediateSize], [32, 1, 2, 128]);
    assert.equal(c.pooling, 'mean');
    assert.equal(c.embeddingHead, true);
    assert.equal(c.outputEmbeddingSize, 32);
    assert.equal(s['parameters'], model.numParameters());
    assert.equal(s['vocabSize'], tok.vocabSize);
  } finally {
    model.dispose();
  }
  assert.deepEqual(fs.readdirSync(out).sort(), ['config.json', 'merges.txt', 'model.safetensors', 'vocab.json']);
  const json = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(json['bos_token_id'], tok.clsId);
  assert.equal(json['eos_token_id'], tok.sepId);
  const own = await loadTokenizer(out);
  const ids = Array.from(await own.encode('hello world', 40));
  assert.deepEqual(ids, Array.from(await tok.encode('hello world', 40)));
  // Same seed, same weights; --overwrite is needed to replace the directory.
  assert.equal(cli(['init-model', '--out-dir', out, '--tokenizer', TOKENIZER, ...TINY, '--seed', '3']).code, 2);
  const again = path.join(dir, 'roberta-again');
  assert.equal(cli(['init-model', '--out-dir', again, '--tokenizer', TOKENIZER, ...TINY, '--seed', '3']).code, 0);
  assert.ok(fs.readFileSync(path.join(out, 'model.safetensors')).equals(fs.readFileSync(path.join(again, 'model.safetensors'))));
  assert.equal(cli(['init-model', '--out-dir', out, '--tokenizer', TOKENIZER, ...TINY, '--seed', '4', '--overwrite']).code, 0);
  assert.ok(!fs.readFileSync(path.join(out, 'model.safetensors')).equals(fs.readFileSync(path.join(again, 'model.safetensors'))));
});

test('BERT from a WordPiece tokenizer (auto type), first-token pooling without the head', async () => {
  const out = path.join(dir, 'bert');
  const r = cli(['init-model', '--out-dir', out, '--tokenizer', BERT_TOK, ...TINY, '--pooling', 'first', '--no-embedding-head', '--intermediate-size', '48']);
  assert.equal(r.code, 0, r.stderr);
  const tok = await loadTokenizer(BERT_TOK);
  const { model } = loadModel(out);
  try {
    assert.equal(model.config.modelType, 'bert');
    assert.equal(model.config.padTokenId, 0);
    assert.equal(model.config.vocabSize, tok.vocabSize);
    assert.equal(model.config.maxPositionEmbeddings, 40);
    assert.equal(model.config.intermediateSize, 48);
    assert.equal(model.config.pooling, 'first');
    assert.equal(model.config.embeddingHead, false);
    assert.equal(model.dim, 32);
  } finally {
    model.dispose();
  }
  assert.ok(fs.existsSync(path.join(out, 'vocab.txt')));
});

test('bad flags exit 2, a missing tokenizer exits 1 naming it; nothing is written', () => {
  const out = path.join(dir, 'never');
  const cases: Array<[string[], number, RegExp]> = [
    [['--tokenizer', TOKENIZER, '--hidden-size', '30', '--heads', '4'], 2, /--heads: 4 does not divide --hidden-size 30/],
    [['--tokenizer', TOKENIZER, '--layers', '0'], 2, /--layers: must be a positive integer/],
    [['--tokenizer', TOKENIZER, '--pooling', 'max'], 2, /--pooling/],
    [['--tokenizer', TOKENIZER, '--max-length', '1'], 2, /--max-length/],
    [['--tokenizer', path.join(dir, 'nope')], 1, new RegExp(`${path.join(dir, 'nope')}: no tokenizer here`)],
  ];
  for (const [args, code, msg] of cases) {
    const r = cli(['init-model', '--out-dir', out, ...args]);
    assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, msg);
    assert.ok(!fs.existsSync(out));
  }
});

test('preprocess keeps a copy of the tokenizer in the dataset; older datasets fall back to the recorded source', async () => {
  const tokDir = path.join(d.data, 'tokenizer');
  assert.deepEqual(fs.readdirSync(tokDir).sort(), ['merges.txt', 'vocab.json']);
  const ds = openDataset(d.data);
  try {
    assert.equal(ds.manifest.tokenizer.dir, 'tokenizer');
  } finally {
    ds.close();
  }
  assert.equal(findTokenizerDir([d.data]), tokDir);
  // An older dataset: no copy, no `dir`; its source is used while the files' sha256 still match.
  const legacy = path.join(dir, 'legacy-dataset');
  const src = path.join(dir, 'legacy-tokenizer');
  fs.cpSync(TOKENIZER, src, { recursive: true });
  fs.mkdirSync(legacy);
  const manifest = JSON.parse(fs.readFileSync(path.join(d.data, 'manifest.json'), 'utf8')) as { tokenizer: Record<string, unknown> };
  delete manifest.tokenizer['dir'];
  manifest.tokenizer['source'] = src;
  fs.writeFileSync(path.join(legacy, 'manifest.json'), JSON.stringify(manifest));
  assert.equal(findTokenizerDir([legacy]), src);
  fs.appendFileSync(path.join(src, 'merges.txt'), 'x y\n');
  assert.equal(findTokenizerDir([legacy]), undefined, 'a changed tokenizer is not the one the dataset was made with');
});

test('init-model → train --init → the trained model carries the tokenizer: embed --text and search --query work on it', async () => {
  const init = path.join(dir, 'init-from-dataset');
  // The dataset directory names its tokenizer.
  const r0 = cli(['init-model', '--out-dir', init, '--tokenizer', d.data, ...TINY]);
  assert.equal(r0.code, 0, r0.stderr);
  const out = path.join(dir, 'run');
  const tr = cli([
    'train', '--method', 'inbatch', '--data', d.data, '--init', init, '--out-dir', out, '--batch-size', '8', '--max-steps', '2',
    '--warmup-steps', '1', '--save-every', '0', '--max-query-length', '12', '--max-doc-length', '32', '--no-progress', '--threads', '1',
  ]);
  assert.equal(tr.code, 0, tr.stderr);
  const modelDir = (JSON.parse(tr.stdout) as { modelDir: string }).modelDir;
  assert.deepEqual(fs.readdirSync(modelDir).sort(), ['config.json', 'merges.txt', 'model.safetensors', 'vocab.json']);

  const texts = path.join(dir, 'texts.txt');
  fs.writeFileSync(texts, 'first query text\nanother one\n');
  const e = cli(['embed', '--model', modelDir, '--text', texts]);
  assert.equal(e.code, 0, e.stderr);
  const rows = JSON.parse(e.stdout) as number[][];
  assert.equal(rows.length, 2);
  assert.equal(rows[0]!.length, 32);

  const corpus = path.join(dir, 'corpus.f32');
  const enc = cli(['encode', '--model', modelDir, '--data', d.data, '--split', 'corpus', '--out', corpus, '--no-progress', '--max-length', '32']);
  assert.equal(enc.code, 0, enc.stderr);
  const s = cli(['search', '--model', modelDir, '--doc-embeddings', corpus, '--query', 'first query text', '--topk', '3', '--data', d.data]);
  assert.equal(s.code, 0, s.stderr);
  const lines = s.stdout.trim().split('\n');
  assert.equal(lines.length, 3);
  assert.ok(lines.every((l) => l.startsWith('1 Q0 ')), s.stdout);
});

test('trainDualEncoder from a fresh config takes the tokenizer from the dataset', async () => {
  const outDir = path.join(dir, 'lib-run');
  const r = await trainDualEncoder(
    { method: 'inbatch', data: d.data, initConfig: TINY_CONFIG, outDir, batchSize: 8, maxSteps: 2, warmupSteps: 1, saveEvery: 0, maxQueryLength: 12, maxDocLength: 32, progress: false, threads: 1 } as never,
    { logger: quiet },
  );
  assert.ok(r.modelDir !== null);
  for (const f of ['vocab.json', 'merges.txt']) {
    assert.ok(fs.readFileSync(path.join(r.modelDir, f)).equals(fs.readFileSync(path.join(TOKENIZER, f))), f);
  }
  const texts = path.join(dir, 'texts2.txt');
  fs.writeFileSync(texts, 'some words\n');
  const e = cli(['embed', '--model', r.modelDir, '--text', texts]);
  assert.equal(e.code, 0, e.stderr);
  assert.equal((JSON.parse(e.stdout) as number[][]).length, 1);
});
