#!/usr/bin/env bash
# Runs every test file with node:test (Node 20's --test does not expand globs, so the shell does).
set -euo pipefail
cd "$(dirname "$0")/.."
shopt -s globstar nullglob
files=(test/**/*.test.ts)
if [ "$#" -gt 0 ]; then files=("$@"); fi
exec node --import tsx --test --test-concurrency=1 "${files[@]}"
