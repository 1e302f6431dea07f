#!/usr/bin/env bash
# Idempotent set-up for Squish: run by `npm start`, `npm run build` and
# `npm test` (with --test). Each step checks first and only acts when needed.
#   bash scripts/setup.sh [--test]
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[[ "${1:-}" == "--test" ]] && want_test=1

say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else return 1; fi
}

# 1. Rust toolchain with the wasm target.
command -v cargo >/dev/null && command -v rustup >/dev/null \
  || die "cargo and rustup are required (install Rust with rustup: https://rustup.rs), then run this again"
if rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "rust target wasm32-unknown-unknown: present"
else
  say "adding rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

# 2. wasm-bindgen CLI at exactly the version of the wasm-bindgen crate in Cargo.lock.
wb_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
[[ -n "$wb_version" ]] || die "cannot find the wasm-bindgen version in Cargo.lock"
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [[ "$have" == "$wb_version" ]] && command -v wasm-bindgen-test-runner >/dev/null; then
  say "wasm-bindgen-cli $wb_version: present"
else
  say "installing wasm-bindgen-cli $wb_version (found '${have:-none}'); this compiles for several minutes"
  # No --locked: the CLI's own lockfile pins a crate version crates.io no longer serves.
  cargo install wasm-bindgen-cli --version "$wb_version" --force
fi

# 3. Node.js and the npm packages from package-lock.json.
command -v node >/dev/null && command -v npm >/dev/null || die "Node.js ≥ 20 with npm is required"
node_major=$(node -p 'process.versions.node.split(".")[0]')
(( node_major >= 20 )) || die "Node.js ≥ 20 is required (found $(node --version))"
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
stamp=node_modules/.squish-lock-sha256
if [[ -f "$stamp" && "$(cat "$stamp")" == "$lock_hash" ]]; then
  say "npm packages: up to date"
else
  say "installing npm packages (npm ci)"
  npm ci --no-audit --no-fund
  echo "$lock_hash" > "$stamp"
fi

# 4. For tests: Chromium and its ChromeDriver (Debian packages).
if (( want_test )); then
  chromium_bin=${CHROMIUM_PATH:-/usr/bin/chromium}
  driver_bin=${CHROMEDRIVER:-/usr/bin/chromedriver}
  if [[ -x "$chromium_bin" && -x "$driver_bin" ]]; then
    say "chromium and chromedriver: present ($chromium_bin, $driver_bin)"
  elif command -v apt-get >/dev/null; then
    say "installing Debian packages chromium and chromium-driver"
    as_root apt-get update -qq || die "apt-get update failed (need root or sudo); or set CHROMIUM_PATH and CHROMEDRIVER to an installed Chromium and its driver"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null \
      || die "could not install chromium; set CHROMIUM_PATH and CHROMEDRIVER to an installed Chromium and its driver"
    [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]] || die "chromium installed but /usr/bin/chromium or /usr/bin/chromedriver is missing"
  else
    die "no Chromium found and no apt-get to install it: set CHROMIUM_PATH (browser) and CHROMEDRIVER (its driver)"
  fi
fi
# 5. For tests: a Python venv with onnx (conformance generators) and
#    onnxruntime (reference outputs), installed from the hash-locked closure
#    scripts/requirements-test.txt (made by scripts/lock-python.sh from
#    requirements-test.in): every package at one version, wheels only, so a
#    new machine writes byte-identical test data.
if (( want_test )); then
  venv=.cache/venv
  req_hash=$(sha256sum scripts/requirements-test.txt | cut -d' ' -f1)
  if [[ -x $venv/bin/python && -f $venv/.req-sha256 && "$(cat $venv/.req-sha256)" == "$req_hash" ]]; then
    say "python test tools: up to date ($venv)"
  else
    command -v python3 >/dev/null || die "python3 is required for test data generation"
    say "creating $venv with $(grep -E '^[a-z]' scripts/requirements-test.in | tr '\n' ' ')(hash-locked with their dependencies)"
    rm -rf "$venv"
    python3 -m venv "$venv" || die "python3 -m venv failed (on Debian: apt-get install python3-venv)"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --require-hashes --no-deps --only-binary :all: \
      -r scripts/requirements-test.txt \
      || die "pip could not install scripts/requirements-test.txt (hash-locked; regenerate with scripts/lock-python.sh)"
    echo "$req_hash" > "$venv/.req-sha256"
  fi
fi
say "ready"
