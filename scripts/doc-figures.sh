#!/usr/bin/env bash
# The size figures of README.md and FALLBACK.md, from the current build (run scripts/build.sh first).
#   scripts/doc-figures.sh            print them
#   scripts/doc-figures.sh --write    update the docs' doc-figures blocks
#   scripts/doc-figures.sh --check    fail when the docs drifted (more than 5 %) from the build
set -euo pipefail
exec node "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/doc-figures.mjs" "$@"
