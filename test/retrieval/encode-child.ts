// Child process for the encode kill test: encodes a split with tiny parts and reports each published part on stdout.
import { openDataset } from '../../src/data/index.ts';
import { loadModel } from '../../src/models/checkpoint.ts';
import { encodeSplit } from '../../src/retrieval/encode.ts';

const [modelDir, dsDir, out, slow] = process.argv.slice(2) as [string, string, string, string | undefined];
const ds = openDataset(dsDir);
const { model } = loadModel(modelDir);
await encodeSplit(model, ds.corpus, {
  out,
  maxLength: 32,
  batchSize: 8,
  chunkRows: 40,
  progress: false,
  onPart: (i) => {
    process.stdout.write(`part ${i}\n`);
    // Slow down after each part so the parent's SIGKILL lands mid-run.
    if (slow === 'slow') Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);
  },
});
process.stdout.write('done\n');
ds.close();
