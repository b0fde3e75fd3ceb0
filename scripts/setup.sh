#!/usr/bin/env bash
# Idempotent machine + project setup: Debian packages, OpenBLAS check, npm ci, native addon build.
# Called by `npm test` and `npm run demo` (npm pre-scripts) and by .ci/run, so a fresh Debian 12 + Node 20
# machine goes from clone to working in one command.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PKGS=(libtorch-dev libgloo-dev libfaiss-dev libopenblas0-pthread libopenblas-dev cmake g++ make chromium fonts-dejavu-core)
missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# Reference BLAS is ~35x slower than OpenBLAS for libtorch's CPU GEMMs: make OpenBLAS the alternative.
for alt in libblas.so.3-x86_64-linux-gnu liblapack.so.3-x86_64-linux-gnu; do
  cur=$(update-alternatives --query "$alt" 2>/dev/null | awk '/^Value:/{print $2}')
  if [ -n "$cur" ] && ! echo "$cur" | grep -q openblas; then
    cand=$(update-alternatives --query "$alt" | awk '/^Alternative:/{print $2}' | grep openblas0-pthread | head -1 || true)
    if [ -n "$cand" ]; then
      SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
      $SUDO update-alternatives --set "$alt" "$cand" >&2 || true
    fi
  fi
  cur=$(update-alternatives --query "$alt" 2>/dev/null | awk '/^Value:/{print $2}')
  if [ -n "$cur" ] && ! echo "$cur" | grep -q openblas; then
    echo "setup: WARNING: $alt is $cur, not OpenBLAS. libtorch matmuls will be ~35x slower." >&2
  fi
done

# npm dependencies: reinstall only when the lock file changed since the last install.
stamp=node_modules/.drhard-lock-stamp
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  npm ci --no-audit --no-fund >&2
  cp package-lock.json "$stamp"
fi

# Native addon: rebuild when a source file or the libtorch choice changed.
want="$(cat native/CMakeLists.txt native/src/* 2>/dev/null | sha256sum | cut -c1-16)-${LIBTORCH:-system}"
nstamp=build/.drhard-native-stamp
if [ ! -f build/Release/drhard_native.node ] || [ "$(cat "$nstamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: building native addon (libtorch: ${LIBTORCH:-Debian libtorch-dev})" >&2
  npx cmake-js compile --directory native --out build -B Release ${LIBTORCH:+--CDCMAKE_PREFIX_PATH="$LIBTORCH"} >&2
  echo "$want" > "$nstamp"
fi

# `drhard` on PATH, pointing at this checkout (the README's commands are written with it). Skipped when a drhard of
# this checkout is already there; a failure (no write access to npm's global prefix) is a warning, not an error.
if [ "$(readlink -f "$(command -v drhard 2>/dev/null)" 2>/dev/null)" != "$(readlink -f bin/drhard.js)" ]; then
  if npm link --no-audit --no-fund >/dev/null 2>&1; then
    echo "setup: linked drhard into $(npm prefix -g)/bin" >&2
  else
    echo "setup: WARNING: could not npm link drhard; run it as 'node bin/drhard.js' or 'npx drhard' here" >&2
  fi
fi
