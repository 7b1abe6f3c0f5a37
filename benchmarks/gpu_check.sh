#!/bin/bash
# The GPU checks, as one script for a lent GPU machine (minutes of lease): the gpu-marked tests,
# then bench_index.py's GPU section under a time budget. Results go to $OUT (default /tmp/vtg-gpu).
#
#   bash benchmarks/gpu_check.sh [BENCH_BUDGET_SECONDS]
#
# Packages the machine lacks travel as wheels in .whl/ (benchmarks/gpu_wheels.sh fills it): they
# are installed into /tmp/site first. Tests run from /tmp so the installed vtg is the one tested.
set -u -o pipefail
OUT=${OUT:-/tmp/vtg-gpu}
BUDGET=${1:-300}
REPO=$(pwd)
mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        || { echo "gpu_check: wheel install failed"; exit 3; }
    export PYTHONPATH=/tmp/site
fi
nvidia-smi --query-gpu=name,driver_version,memory.total,decoder.util --format=csv 2>&1 | tee "$OUT/gpu.txt"
ls /usr/local/nvidia/lib64 /usr/lib/x86_64-linux-gnu 2>/dev/null | grep -i -E "nvcuvid|libcuda\.so" | sort -u | tee -a "$OUT/gpu.txt"
(cd /tmp && python3 -c "import av, torch, vtg; print('av', av.__version__, 'torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'vtg', vtg.__version__, vtg.__file__)" \
    2>&1) | tee -a "$OUT/gpu.txt" || exit 3
echo "== gpu-marked tests"
(cd /tmp && timeout 150 python3 -m pytest -q -rs -m gpu -p no:cacheprovider "$REPO/tests/test_video_nvdec.py" \
    "$REPO/tests/test_encoders.py" "$REPO/tests/test_preprocess.py" "$REPO/tests/test_univtg_train.py" \
    "$REPO/tests/test_video_torchcodec.py" 2>&1 | tee "$OUT/gpu_tests.log" | tail -25)
echo "== bench_index.py --gpu-only (budget ${BUDGET}s)"
PYTHONUNBUFFERED=1 python3 benchmarks/bench_index.py --gpu-only --gpu-budget "$BUDGET" --out "$OUT/gpu.json" \
    > "$OUT/bench.log" 2>&1
echo "bench exit $?"; tail -5 "$OUT/bench.log"; cat "$OUT/gpu.json"
