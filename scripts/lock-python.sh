#!/usr/bin/env bash
# Regenerates scripts/requirements-test.txt, the hash-locked closure of the
# Python test tools named in scripts/requirements-test.in (every package,
# transitive ones included, at one version with the sha256 of every file
# PyPI serves for it). Run it after editing the .in file, then commit both:
#   bash scripts/lock-python.sh
# setup.sh installs the lock with `pip install --require-hashes --no-deps`,
# so a new machine gets byte-identical packages, hence byte-identical test data.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.cache/lock-venv
# The locking tool itself is not part of the lock: it only writes the file.
PIP_TOOLS_VERSION=7.6.2
if ! "$venv/bin/pip-compile" --version 2>/dev/null | grep -q "$PIP_TOOLS_VERSION"; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "pip-tools==$PIP_TOOLS_VERSION"
fi
"$venv/bin/pip-compile" --quiet --generate-hashes --allow-unsafe --strip-extras \
  --no-emit-find-links --no-emit-index-url --rebuild \
  --output-file scripts/requirements-test.txt scripts/requirements-test.in
echo "locked: $(grep -cE '^[A-Za-z0-9]' scripts/requirements-test.txt) packages in scripts/requirements-test.txt"
