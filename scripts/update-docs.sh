#!/usr/bin/env bash
# Copies the reference generated from the ODS (ops, dialect, passes) into docs/generated/.
# Run after changing ChituOps.td, ChituDialect.td or Passes.td (the docs.generated test
# says when): cmake --build build && bash scripts/update-docs.sh
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p docs/generated
for f in ChituOps ChituDialect ChituPasses; do
  cp "build/docs/chitu/$f.md" "docs/generated/$f.md"
done
echo "docs/generated updated"
