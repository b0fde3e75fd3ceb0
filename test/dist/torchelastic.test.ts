// recordTorchelasticError: the error file torchrun's agent reads (torch.distributed.elastic's format).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { recordTorchelasticError } from '../../src/dist/torchelastic.ts';

test('writes {message: {message, extraInfo: {py_callstack, timestamp}}} to TORCHELASTIC_ERROR_FILE; nothing without it', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-te-'));
  try {
    const file = path.join(dir, 'attempt_0', '1', 'error.json');
    assert.equal(recordTorchelasticError(new Error('boom'), {}), null);
    assert.equal(recordTorchelasticError(new Error('boom'), { TORCHELASTIC_ERROR_FILE: file }), file);
    const d = JSON.parse(fs.readFileSync(file, 'utf8')) as { message: { message: string; extraInfo: { py_callstack: string; timestamp: string } } };
    assert.equal(d.message.message, 'Error: boom');
    assert.match(d.message.extraInfo.py_callstack, /boom/);
    assert.match(d.message.extraInfo.timestamp, /^\d+$/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a failing drhard command under torchrun writes its error file (CLI)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-te-'));
  try {
    const file = path.join(dir, 'error.json');
    const bin = path.resolve(import.meta.dirname, '../../bin/drhard.js');
    const r = spawnSync(process.execPath, [bin, 'encode', '--model', path.join(dir, 'none'), '--data', path.join(dir, 'none'), '--out', path.join(dir, 'x.f32')], {
      encoding: 'utf8',
      env: { ...process.env, TORCHELASTIC_ERROR_FILE: file },
      timeout: 120_000,
    });
    assert.notEqual(r.status, 0);
    const d = JSON.parse(fs.readFileSync(file, 'utf8')) as { message: { message: string } };
    assert.match(d.message.message, /none/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
