#!/usr/bin/env bash
# The CPU/CUDA comparisons of tests/test_gpu.py (one line each), then every pipeline at
# small size on a CUDA GPU, one line per pipeline (PASS/FAIL, seconds). Not yet run on a
# GPU: no GPU has been lent to this project's sessions since it was written.
# Logs go to $CHECK_DIR (default: a temporary folder).
#   PY=python3 bash scripts/gpu_check.sh       # any Python with the requirements installed
# Then the benchmarks: $PY benchmarks/train_throughput.py; $PY benchmarks/spiking_throughput.py
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
CHECK_DIR=${CHECK_DIR:-$(mktemp -d -t synoploss-gpu-check.XXXX)}
mkdir -p "$CHECK_DIR"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
failures=0

if ! $PY -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "gpu_check: no CUDA GPU visible to $PY (torch.cuda.is_available() is False)" >&2
  exit 2
fi
$PY -c "import torch; print('gpu_check:', torch.cuda.get_device_name(0), 'torch', torch.__version__)"

# run NAME COMMAND...: one line, the log kept in $CHECK_DIR/NAME.log
run() {
  local name=$1; shift
  local started=$SECONDS
  # not inside `if`: there bash would ignore set -e, and a failing step would go unseen
  (set -e; "$@") > "$CHECK_DIR/$name.log" 2>&1
  if [ $? -eq 0 ]; then
    printf 'PASS %-18s %4ds\n' "$name" $((SECONDS - started))
  else
    printf 'FAIL %-18s %4ds  (log: %s)\n' "$name" $((SECONDS - started)) "$CHECK_DIR/$name.log"
    tail -5 "$CHECK_DIR/$name.log" | sed 's/^/     | /'
    failures=$((failures + 1))
  fi
}

cifar10() {
  local W="$CHECK_DIR/cifar10" DATA="--standin --n_train 4096 --n_test 512 --data_root $CHECK_DIR/none"
  for precision in fp32 bf16; do
    $PY CIFAR10_analogue/train.py $DATA --width 1.0 --n_epochs 2 --round_epochs 1 --n_rounds 2 \
      --batch_size 512 --precision $precision --workdir "$W/$precision" --no_progress --device cuda
    $PY CIFAR10_analogue/test.py $DATA --workdir "$W/$precision" --baseline_scales 5 50 \
      --n_timesteps 10 --device cuda
  done
}

mnist_dvs() {
  local W="$CHECK_DIR/mnist_dvs" D="$CHECK_DIR/mnist_dvs/data"
  $PY mnist_dvs/generate_DV4_dataset.py --standin --out "$D" --standin_root "$W/aedat" \
    --train_per_digit 6 --test_per_digit 2 --workers 4
  local TRAIN="--data_root $D --workdir $W --n_epochs 2 --batch_size 64 --no_progress --device cuda"
  $PY mnist_dvs/train.py $TRAIN --nopenalty
  $PY mnist_dvs/train.py $TRAIN --quantize_training --n_models 2 --target_min 3e5 --target_max 1e6
  $PY mnist_dvs/train.py $TRAIN --n_models 2 --target_min 3e5 --target_max 1e6
  for mode in nopenalty quantized nonquantized ann; do
    $PY mnist_dvs/test_spiking.py --mode $mode --workdir "$W" --data_root "$D" --device cuda
  done
  $PY mnist_dvs/test_spiking.py --mode weightscaling --scales 0.3 0.6 0.9 --workdir "$W" \
    --data_root "$D" --device cuda
  $PY mnist_dvs/smart_weight_rescaling.py --workdir "$W" --data_root "$D" --levels 8 16 --device cuda
  $PY mnist_dvs/quantization_evaluation.py --workdir "$W" --data_root "$D" --n_epochs 1 \
    --no_progress --device cuda
  $PY mnist_dvs/optimization_benchmarking.py --workdir "$W" --max_drop 100
  $PY mnist_dvs/summarize_results.py --workdir "$W"
}

mnist_quant_only() {
  local W="$CHECK_DIR/mnist_quant_only"
  for qtrain in "" --quantize_training; do
    $PY mnist_quant_only/quantization_evaluation.py $qtrain --scales 0.5 2.1 --n_epochs 2 \
      --workdir "$W" --data_root "$W/data" --no_progress --device cuda
    $PY mnist_quant_only/test_spiking.py $qtrain --workdir "$W" --data_root "$W/data" --device cuda
  done
}

gpu_tests() {
  $PY -m pytest -q -s -m gpu tests
}

# the CPU/CUDA comparisons first: one line each (what, both values, difference, tolerance)
run pytest_gpu gpu_tests
grep '^compare' "$CHECK_DIR/pytest_gpu.log" | sed 's/^/     /'
run cifar10 cifar10
run mnist_dvs mnist_dvs
run mnist_quant_only mnist_quant_only
echo "gpu_check: $failures failure(s); logs in $CHECK_DIR"
exit $((failures > 0))
