#!/bin/bash
# Fill .whl/ (ignored by git) with what the lent GPU machine lacks, for benchmarks/gpu_check.sh:
# PyAV, open_clip and its small needs (CPython 3.12, manylinux x86-64), and vtg's own wheel.
# Run here, from the repository root; then on the device: bash benchmarks/gpu_check.sh, carrying .whl.
set -euo pipefail
mkdir -p .whl
grep -qx "/.whl/" "$(git rev-parse --git-dir)/info/exclude" 2>/dev/null || echo "/.whl/" >> "$(git rev-parse --git-dir)/info/exclude"
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl "av==18.1.0" "open_clip_torch==3.3.0" "ftfy==6.3.1" "wcwidth"
rm -f .whl/vtg-*.whl
python3 -m pip wheel -q --no-deps --no-build-isolation -w .whl .
du -sh .whl && ls .whl
