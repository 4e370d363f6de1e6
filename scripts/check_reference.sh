#!/usr/bin/env bash
# The bundled reference file must be byte-identical to the team's shared copy, when that copy is beside the
# repository (CI clones it there; a lone clone has nothing to compare with, and the suite never reads it).
#   scripts/check_reference.sh [BUNDLED] [SHARED]
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bundled="${1:-$REPO/core/data/pllum_align.json}"
shared="${2:-$REPO/../shared/reference/pllum_align.json}"
if [[ ! -f "$shared" ]]; then
  echo "reference: no shared copy at $shared; nothing to compare"
  exit 0
fi
if ! cmp -s "$bundled" "$shared"; then
  echo "reference: $bundled differs from $shared: copy the shared file over the bundled one" >&2
  exit 1
fi
echo "reference: bundled copy matches $shared"
