// TensorBoard writer: CRC32C, TFRecord framing, golden bytes, CRC verification, purge-on-resume, flush on exit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import {
  FILE_VERSION,
  SessionStatus,
  SummaryWriter,
  crc32c,
  decodeEvent,
  encodeEvent,
  frameRecord,
  maskCrc,
  readEvents,
  readRecords,
} from '../../src/train/tensorboard.ts';
import { DrhardInputError } from '../../src/util/errors.ts';

const root = new URL('../..', import.meta.url).pathname;
const enc = new TextEncoder();

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-tb-'));
}

function writeGolden(dir: string): string {
  const w = new SummaryWriter(dir, { hostname: 'h', wallTime: () => 1700000000.5, purgeStep: 7, flushSecs: 0 });
  w.addScalar('train/loss', 0.25, 7);
  w.addScalar('train/loss', 0, 8);
  w.addScalar('dev/mrr@10', 0.3375, 1234567890123);
  w.close();
  return w.file;
}

// Independent reader: Python CRC32C + google.protobuf with the Event schema built at run time (no protoc).
const PY_DECODER = `
# Independent reader for tests: Python CRC32C + google.protobuf with the Event schema built at run time.
import json, struct, sys
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, json_format

F = descriptor_pb2.FieldDescriptorProto
fdp = descriptor_pb2.FileDescriptorProto(name='tbev.proto', package='tb', syntax='proto3')
v = fdp.message_type.add(name='SummaryValue')
v.oneof_decl.add(name='value')
v.field.add(name='tag', number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
v.field.add(name='simple_value', number=2, type=F.TYPE_FLOAT, label=F.LABEL_OPTIONAL, oneof_index=0)
s = fdp.message_type.add(name='Summary')
s.field.add(name='value', number=1, type=F.TYPE_MESSAGE, label=F.LABEL_REPEATED, type_name='.tb.SummaryValue')
sl = fdp.message_type.add(name='SessionLog')
sl.field.add(name='status', number=1, type=F.TYPE_INT32, label=F.LABEL_OPTIONAL)
sl.field.add(name='checkpoint_path', number=2, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
sl.field.add(name='msg', number=3, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
e = fdp.message_type.add(name='Event')
e.oneof_decl.add(name='what')
e.field.add(name='wall_time', number=1, type=F.TYPE_DOUBLE, label=F.LABEL_OPTIONAL)
e.field.add(name='step', number=2, type=F.TYPE_INT64, label=F.LABEL_OPTIONAL)
e.field.add(name='file_version', number=3, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL, oneof_index=0)
e.field.add(name='summary', number=5, type=F.TYPE_MESSAGE, label=F.LABEL_OPTIONAL, type_name='.tb.Summary', oneof_index=0)
e.field.add(name='session_log', number=7, type=F.TYPE_MESSAGE, label=F.LABEL_OPTIONAL, type_name='.tb.SessionLog', oneof_index=0)
pool = descriptor_pool.DescriptorPool()
pool.Add(fdp)
desc = pool.FindMessageTypeByName('tb.Event')
try:
    Event = message_factory.GetMessageClass(desc)
except AttributeError:
    Event = message_factory.MessageFactory(pool).GetPrototype(desc)

T = []
for i in range(256):
    c = i
    for _ in range(8):
        c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    T.append(c)

def crc32c(b):
    c = 0xFFFFFFFF
    for x in b:
        c = T[(c ^ x) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF

def masked(b):
    c = crc32c(b)
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF

data = open(sys.argv[1], 'rb').read()
off, out = 0, []
while off < len(data):
    (n,) = struct.unpack_from('<Q', data, off)
    assert struct.unpack_from('<I', data, off + 8)[0] == masked(data[off:off + 8]), 'length crc'
    rec = data[off + 12:off + 12 + n]
    assert struct.unpack_from('<I', data, off + 12 + n)[0] == masked(rec), 'data crc'
    ev = Event()
    ev.ParseFromString(rec)
    out.append(json_format.MessageToDict(ev, preserving_proto_field_name=True))
    off += 16 + n
print(json.dumps(out))
`;

// Cross-checked once against an independent Python decoder (PY_DECODER above) and pinned.
const GOLDEN_HEX =
  '1800000000000000a37f4b220900002040fc54d9411a0d627261696e2e4576656e743a322b3531100f000000000000006d532b09' +
  '0900002040fc54d94110073a0208019beb06a7200000000000000029eda9500900002040fc54d94110072a130a110a0a747261696e' +
  '2f6c6f7373150000803e27fcc89b200000000000000029eda9500900002040fc54d94110082a130a110a0a747261696e2f6c6f7373' +
  '1500000000f31469d12500000000000000eabc36f30900002040fc54d94110cb89ec8ff7232a130a110a0a6465762f6d72724031' +
  '3015cdccac3e48a0a520';

test('crc32c check value and chaining; mask formula', () => {
  assert.equal(crc32c(enc.encode('123456789')), 0xe3069283);
  assert.equal(crc32c(new Uint8Array(0)), 0);
  assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa); // RFC 3720 B.4: 32 bytes of zeros
  assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43); // RFC 3720 B.4: 32 bytes of 0xff
  const a = enc.encode('hello ');
  const b = enc.encode('world');
  assert.equal(crc32c(b, crc32c(a)), crc32c(enc.encode('hello world')));
  const c = 0x12345678;
  assert.equal(maskCrc(c), ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) % 2 ** 32);
});

test('golden bytes for a fixed wall_time, file name, and an independent decode', () => {
  const dir = tmpDir();
  try {
    const file = writeGolden(dir);
    assert.equal(path.basename(file), 'events.out.tfevents.1700000000.h');
    assert.equal(fs.readFileSync(file).toString('hex'), GOLDEN_HEX);
    const py = spawnSync('/usr/bin/python3', ['-c', 'import google.protobuf'], { encoding: 'utf8' });
    if (py.status !== 0) {
      console.log('# python3 google.protobuf not installed (apt python3-protobuf): independent decode skipped');
      return;
    }
    const r = spawnSync('/usr/bin/python3', ['-c', PY_DECODER, file], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), [
      { wall_time: 1700000000.5, file_version: 'brain.Event:2' },
      { wall_time: 1700000000.5, step: '7', session_log: { status: 1 } },
      { wall_time: 1700000000.5, step: '7', summary: { value: [{ tag: 'train/loss', simple_value: 0.25 }] } },
      { wall_time: 1700000000.5, step: '8', summary: { value: [{ tag: 'train/loss', simple_value: 0 }] } },
      { wall_time: 1700000000.5, step: '1234567890123', summary: { value: [{ tag: 'dev/mrr@10', simple_value: 0.3375 }] } },
    ]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('round trip: readEvents returns what was written (float32 precision), purge START first', () => {
  const dir = tmpDir();
  try {
    let t = 1000;
    const w = new SummaryWriter(dir, { purgeStep: 500, wallTime: () => (t += 0.25), flushSecs: 0 });
    const vals: Array<[string, number, number]> = [];
    for (let step = 500; step < 520; step++) {
      vals.push(['train/loss', 1 / (step - 498), step], ['train/lr', 2e-5 * (step / 520), step]);
    }
    for (const [tag, v, s] of vals) w.addScalar(tag, v, s);
    w.addScalar('weird', Number.NaN, 521);
    w.close();
    w.close();
    assert.throws(() => w.addScalar('x', 1, 1), /closed/);
    const evs = readEvents(w.file);
    assert.equal(evs[0]!.fileVersion, FILE_VERSION);
    assert.deepEqual(evs[1]!.sessionLog, { status: SessionStatus.START });
    assert.equal(evs[1]!.step, 500);
    const scalars = evs.slice(2);
    assert.equal(scalars.length, vals.length + 1);
    vals.forEach(([tag, v, s], i) => {
      const e = scalars[i]!;
      assert.equal(e.step, s);
      assert.equal(e.summary?.[0]?.tag, tag);
      assert.equal(e.summary?.[0]?.simpleValue, Math.fround(v));
      assert.ok(e.wallTime > 1000);
    });
    assert.ok(Number.isNaN(scalars.at(-1)!.summary?.[0]?.simpleValue));
    // encode/decode also handle session_log strings and unknown fields are skipped
    const ev = { wallTime: 1.5, step: 3, sessionLog: { status: SessionStatus.CHECKPOINT, checkpointPath: '/c', msg: 'm' } };
    assert.deepEqual(decodeEvent(encodeEvent(ev)), ev);
    const withUnknown = new Uint8Array([...encodeEvent({ wallTime: 2, step: 1 }), 0x20, 0x05]); // field 4 varint
    assert.deepEqual(decodeEvent(withUnknown), { wallTime: 2, step: 1 });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a corrupt byte anywhere is detected with its record offset; truncation is reported', () => {
  const dir = tmpDir();
  try {
    const file = writeGolden(dir);
    const good = fs.readFileSync(file);
    const recs = readRecords(good);
    assert.equal(recs.length, 5);
    // Flip every byte in turn: each must be caught (length CRC, length, data, or data CRC).
    for (let i = 0; i < good.length; i++) {
      const bad = Buffer.from(good);
      bad[i] = bad[i]! ^ 0x04;
      assert.throws(() => readRecords(bad, { file }), DrhardInputError, `byte ${i} flip not detected`);
    }
    const bad = Buffer.from(good);
    bad[12 + 5] = bad[12 + 5]! ^ 0xff; // inside the first record's data
    assert.throws(() => readRecords(bad, { file }), (e: unknown) => {
      assert.ok(e instanceof DrhardInputError);
      assert.equal(e.message, `${file}: record at byte 0: data crc mismatch`);
      return true;
    });
    const second = 16 + recs[0]!.length;
    const bad2 = Buffer.from(good);
    bad2[second + 1] = bad2[second + 1]! ^ 0x01; // second record's length field
    assert.throws(() => readRecords(bad2), new RegExp(`record at byte ${second}: length crc mismatch`));
    const cut = good.subarray(0, good.length - 3);
    assert.throws(() => readRecords(cut), /truncated record/);
    assert.equal(readRecords(cut, { allowTruncatedTail: true }).length, 4);
    assert.throws(() => readRecords(good.subarray(0, 5)), /truncated record header/);
    fs.writeFileSync(file, bad);
    assert.throws(() => readEvents(file), /data crc mismatch/);
    // A well-framed record whose payload is not an Event protobuf.
    fs.writeFileSync(file, frameRecord(new Uint8Array([0x0a, 0x10, 0x01])));
    assert.throws(() => readEvents(file), /record 0: bad Event protobuf/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('same-second restart gets its own file; invalid steps are refused', () => {
  const dir = tmpDir();
  try {
    const a = new SummaryWriter(dir, { hostname: 'h', wallTime: () => 42, flushSecs: 0 });
    const b = new SummaryWriter(dir, { hostname: 'h', wallTime: () => 42, flushSecs: 0, purgeStep: 3 });
    assert.notEqual(a.file, b.file);
    assert.equal(path.basename(b.file), 'events.out.tfevents.42.h.1');
    assert.throws(() => a.addScalar('x', 1, -1), RangeError);
    assert.throws(() => a.addScalar('x', 1, 1.5), RangeError);
    a.close();
    b.close();
    assert.equal(readEvents(a.file).length, 1);
    assert.equal(readEvents(b.file)[1]?.sessionLog?.status, SessionStatus.START);
    assert.throws(() => new SummaryWriter(dir, { purgeStep: -2, flushSecs: 0 }), RangeError);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('events are flushed every flushSecs even when idle', (t) => {
  // Mocked timers: the flush is driven by ticking the clock, so the test neither sleeps nor depends on the scheduler.
  t.mock.timers.enable({ apis: ['setInterval'] });
  const dir = tmpDir();
  try {
    const w = new SummaryWriter(dir, { maxQueue: 1000, flushSecs: 30 });
    w.addScalar('a', 1, 1);
    assert.equal(readEvents(w.file).length, 1, 'buffered: only the file-version event is on disk');
    t.mock.timers.tick(29_999);
    assert.equal(readEvents(w.file).length, 1, 'flushed before flushSecs');
    t.mock.timers.tick(1);
    assert.equal(readEvents(w.file).length, 2, 'not flushed after flushSecs');
    w.addScalar('a', 2, 2);
    t.mock.timers.tick(30_000);
    assert.equal(readEvents(w.file).length, 3, 'not flushed again after another flushSecs');
    w.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('events are flushed every maxQueue events, and on process exit (e.g. after SIGTERM handling)', () => {
  const dir = tmpDir();
  try {
    const w = new SummaryWriter(dir, { maxQueue: 3, flushSecs: 0 });
    w.addScalar('a', 1, 1);
    w.addScalar('a', 2, 2);
    assert.equal(readEvents(w.file).length, 1, 'buffered until maxQueue');
    w.addScalar('a', 3, 3);
    assert.equal(readEvents(w.file).length, 4, 'written at maxQueue');
    w.close();
    const code = `import { SummaryWriter } from './src/train/tensorboard.ts';
      const w = new SummaryWriter(${JSON.stringify(dir)}, { hostname: 'child', maxQueue: 1000, flushSecs: 0 });
      for (let i = 0; i < 5; i++) w.addScalar('loss', i, i);
      process.exit(143);`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: root, encoding: 'utf8' });
    assert.equal(r.status, 143, r.stderr);
    const childFile = fs.readdirSync(dir).find((n) => n.endsWith('.child'));
    assert.ok(childFile);
    assert.deepEqual(
      readEvents(path.join(dir, childFile))
        .slice(1)
        .map((e) => e.step),
      [0, 1, 2, 3, 4],
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
