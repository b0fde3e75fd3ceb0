#!/usr/bin/env bash
# GPU check for a machine with a CUDA GPU, Python PyTorch (CUDA build) and no network: builds the addon against
# PyTorch's libtorch, runs the CUDA tests, bench/train.ts --device cuda and an NCCL world of the GPUs present, and
# prints one summary. Node 20 and this project (node_modules included) travel with the script.
# Usage: bash scripts/gpu-check.sh [python3]      (LIBTORCH=/path/to/torch/share/cmake/Torch overrides the lookup)
# Status: prepared, never run here (no GPU in CI or on the development machine).
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${1:-python3}"
declare -A RESULT
step() { # name, command...
  local name="$1"; shift
  echo "== $name: $*" >&2
  if "$@" >&2; then RESULT[$name]=ok; else RESULT[$name]="FAILED ($?)"; fi
}

if [[ -z "${LIBTORCH:-}" ]]; then
  LIBTORCH="$("$PY" -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "share/cmake/Torch"))' 2>/dev/null || true)"
fi
export LIBTORCH
GPUS="$("$PY" -c 'import torch; print(torch.cuda.device_count())' 2>/dev/null || echo 0)"
echo "libtorch: ${LIBTORCH:-none}; GPUs: $GPUS; $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)" >&2

# A separate build directory keeps the CPU build intact; DRHARD_NATIVE points every step at this one.
step build npx cmake-js compile --directory native --out build-cuda -B Release
export DRHARD_NATIVE="$PWD/build-cuda/Release/drhard_native.node"
step cuda-available node --import tsx -e "
  const T = await import('./src/tensor/index.ts');
  if (!T.cudaIsAvailable()) { console.error('libtorch sees no CUDA device'); process.exit(1); }
  console.error('cuda devices:', T.cudaDeviceCount());"
# The tests that take a device: they run their CUDA cases when a device is present.
step cuda-tests node --import tsx --test --test-concurrency=1 test/tensor/*.test.ts test/models/*.test.ts
# bench/train.ts has no --device flag yet (it measures CPU against PyTorch CPU); until it does this step records the
# CPU figures of the GPU machine, and the NCCL world below is the GPU check.
step bench-train node --import tsx bench/train.ts --only star-tiny --steps 5
# NCCL world: one rank per GPU, all-reduce and all-gather checked against the expected values.
if [[ "$GPUS" -ge 1 ]]; then
  step nccl node bin/drhard.js launch --nproc-per-node "$GPUS" --master-port 29533 -- --version >/dev/null
  step nccl-world node --import tsx -e "
    const { launch } = await import('./src/dist/launch.ts');
    const code = \`const { ProcessGroup } = await import('./src/dist/group.ts');
      const T = await import('./src/tensor/index.ts');
      const pg = ProcessGroup.fromEnv({ backend: 'nccl' }) ?? process.exit(0);
      const dev = 'cuda:' + process.env.LOCAL_RANK;
      const t = T.tensor([pg.rank + 1], { dtype: 'float32' }).to(dev);
      pg.allReduce(t, 'sum');
      const want = pg.world * (pg.world + 1) / 2;
      if (t.item() !== want) { console.error('allReduce', t.item(), '!=', want); process.exit(1); }
      console.log('nccl ok', pg.rank, pg.world);\`;
    const r = await launch({ nprocPerNode: $GPUS, nnodes: 1, nodeRank: 0, masterAddr: '127.0.0.1', masterPort: 29534,
      program: [process.execPath, '--import', 'tsx', '--input-type=module', '-e', code], command: [] });
    process.exit(r.exitCode);"
else
  RESULT[nccl-world]="skipped (no GPU)"
fi

echo "== summary (libtorch ${LIBTORCH:-?}, GPUs $GPUS)"
fail=0
for k in build cuda-available cuda-tests bench-train nccl nccl-world; do
  printf '%-16s %s\n' "$k" "${RESULT[$k]:-not run}"
  [[ "${RESULT[$k]:-}" == FAILED* ]] && fail=1
done
exit $fail
