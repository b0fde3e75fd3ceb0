// The README's user-guide commands and scripts/check-readme.ts's PLAN must list the same commands in the same order,
// so the script (which runs them) checks the README as it is written; and the commands use today's flag names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PLAN, readmeCommands } from '../../scripts/check-readme.ts';

const ROOT = path.join(import.meta.dirname, '..', '..');
const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');

test('readmeCommands joins continued lines and drops comments', () => {
  const md = '# x\n```bash\ndrhard a\n```\n## User guide\n```bash\n# note\ndrhard b --x 1 \\\n  --y 2     # why\nls\n```\n```ts\ndrhard c\n```\n## Development\n```bash\ndrhard d\n```\n';
  assert.deepEqual(readmeCommands(md), ['drhard b --x 1 --y 2']);
});

test('scripts/check-readme.ts runs exactly the README user guide commands, in README order', () => {
  const fromReadme = readmeCommands(README);
  assert.ok(fromReadme.length >= 20, `only ${fromReadme.length} commands found`);
  assert.deepEqual(PLAN.filter((p) => p.readme !== undefined).map((p) => p.readme), fromReadme);
});

test('README commands use the current flag names (no deprecated alias)', () => {
  for (const c of readmeCommands(README)) {
    assert.doesNotMatch(c, /\s--(dataset|output|k|corpus|queries|embeddings)\s/, c);
  }
  assert.doesNotMatch(README, /drhard [a-z-]+ [^`\n]*--(dataset|output|corpus|queries)\b/);
});
