#!/usr/bin/env bash
# Runs README's "Training from scratch on your own corpus" commands, as written there, on a small generated corpus
# (tiny sizes via extra flags), so the user-guide path is checked end to end: tokenizer → preprocess → init-model →
# pretrain → train inbatch → mine → STAR → encode → ADORE → search → evaluate → fuse with BM25.
set -euo pipefail
cd "$(dirname "$0")/.."
W=$(mktemp -d /tmp/drhard-scratch-XXXXXX)
trap 'rm -rf "$W"' EXIT
node -e '
const fs = require("fs"); const dir = process.argv[1] + "/msmarco"; fs.mkdirSync(dir);
let s = 7; const r = (n) => { s = (s * 1103515245 + 12345) % 2147483648; return s % n; };
const words = Array.from({ length: 300 }, (_, i) => "w" + i.toString(36) + "x".repeat(r(3)));
const docs = Array.from({ length: 400 }, () => Array.from({ length: 20 + r(20) }, () => words[r(words.length)]));
fs.writeFileSync(dir + "/collection.tsv", docs.map((d, i) => `${i}\t${d.join(" ")}\n`).join(""));
for (const [split, base, n] of [["train", 0, 300], ["dev", 300, 60]]) {
  const q = [], qr = [];
  for (let i = 0; i < n; i++) { const d = docs[base + i]; q.push(`${base + i}\t${[0, 1, 2].map(() => d[r(d.length)]).join(" ")}\n`); qr.push(`${base + i}\t0\t${base + i}\t1\n`); }
  fs.writeFileSync(`${dir}/queries.${split}.tsv`, q.join("")); fs.writeFileSync(`${dir}/qrels.${split}.tsv`, qr.join(""));
}' "$W"
cd "$W"
D="node $OLDPWD/bin/drhard.js"
export DRHARD_LOG_LEVEL=warn
$D tokenizer train --input msmarco/collection.tsv msmarco/queries.train.tsv --out tok --vocab-size 1000
$D preprocess --input msmarco --out data/passage --tokenizer tok --max-doc-length 48 --max-query-length 16
$D init-model --tokenizer tok --out scratch --max-length 48 --hidden-size 32 --layers 1 --heads 2
$D pretrain --data data/passage --init scratch --out-dir pretrained --batch-size 32 --max-steps 10 --max-query-length 16 --max-doc-length 48 --no-progress
$D train --method inbatch --data data/passage --init pretrained/model --out-dir warmup --batch-size 32 --max-query-length 16 --max-doc-length 48 --no-progress
$D mine --dataset data/passage --split train --model warmup/model --topk 20 --out hard.bin --max-query-length 16 --max-doc-length 48 --no-progress
$D train --method star --data data/passage --init warmup/model --negatives hard.bin --out-dir star --batch-size 32 --lr 5e-4 --max-query-length 16 --max-doc-length 48 --no-progress
$D encode --model star/model --dataset data/passage --split corpus --out star/corpus.f32 --max-length 48 --no-progress
$D train --method adore --data data/passage --init star/model --doc-embeddings star/corpus.f32 --out-dir adore --metric-cut 20 --neg-topk 20 --max-query-length 16
$D search --model star/model --corpus star/corpus.f32 --query "w1 w2 w3" --dataset data/passage > /dev/null
$D encode --model adore/model --dataset data/passage --split dev --out adore/dev.f32 --max-length 16 --no-progress
$D search --queries adore/dev.f32 --corpus star/corpus.f32 --k 20 --dataset data/passage --split dev --out dev.trec
$D bm25 --dataset data/passage --split dev --k 20 --out dev.bm25.trec
$D fuse dev.trec dev.bm25.trec --out dev.rrf.trec
for run in dev.trec dev.bm25.trec dev.rrf.trec; do
  $D evaluate --qrels msmarco/qrels.dev.tsv --run $run --metrics mrr@10 --format json > "$run.json"
  node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); const m = r.mean ?? r.metrics ?? r; console.log(process.argv[1], JSON.stringify(m).slice(0, 160))' "$run.json"
done
echo "check-from-scratch: ok"
