#!/bin/sh
# Rewrite tests/golden/*.out from the current build (make golden): run the
# golden test in regeneration mode, then review the diff with git diff.
set -e
cd "$(dirname "$0")/../.."
TOKQ_GOLDEN_REGEN=1 tests/integration/t0200-golden.sh
git --no-pager diff --stat -- tests/golden 2>/dev/null || true
