#!/usr/bin/env bash
# Train the bundled model's next version (v4) on a GPU machine that has no network and
# no wheels: everything it reads is the repository and a corpus pack made beforehand with
#   python -m training.corpus --corpus stdlib+packages3 --pack runs/corpus3.jsonl.xz
# It trains for MINUTES (the cosine fitted to that time from the measured speed),
# exports the model and leaves it in $BACK in pieces under 16 MiB (a lease returns no
# bigger file); reassemble with `cat model.safetensors.part-* > model.safetensors`.
# The tokenizer is the bundled one, so the vocabulary and special tokens stay the same.
#
#   MINUTES=5.5 bash training/gpu_train.sh            # on the GPU machine
#   DEVICE=cpu MINUTES=0.5 SHAPE="--n-embd 64 --n-layer 2 --n-head 2 --batch-size 2" \
#       WORKERS=1 bash training/gpu_train.sh          # the same path, tiny, on a CPU
set -euo pipefail
CORPUS=${CORPUS:-stdlib+packages3}
PACK=${PACK:-runs/corpus3.jsonl.xz}
RUN=${RUN:-/tmp/gpu-run}
BACK=${BACK:-${OUT:-/tmp/gpu-back}}
MINUTES=${MINUTES:-5.5}
DEVICE=${DEVICE:-cuda}
WORKERS=${WORKERS:-6}
# v4: 448 x 8, 7 heads of 64, 21.1 M parameters (docs/model.md, "v4")
SHAPE=${SHAPE:---n-embd 448 --n-layer 8 --n-head 7 --batch-size 16}
PYTHON=${PYTHON:-python3}

mkdir -p "$RUN" "$BACK"
[ -f "$RUN/tokenizer.json" ] || cp model/bundled/tokenizer.json "$RUN/"
# shellcheck disable=SC2086  # SHAPE and EXTRA are word lists on purpose
"$PYTHON" -m training.train --out "$RUN" --pack "$PACK" --device "$DEVICE" \
    --corpus "$CORPUS" $SHAPE --n-positions 2048 --seq-len 2048 --chunk-chars 6000 \
    --lr 2e-3 --min-lr 1e-4 --warmup-steps 300 --max-steps 1000000 \
    --fim-rate 0.6 --spm-rate 0.7 --line-fim-rate 0.5 --stdlib-weight 2 --context-rate 0.3 \
    --eval-windows 64 --eval-every 500 --save-every 1000 --data-workers "$WORKERS" \
    --fit-minutes "$MINUTES" --minutes "$("$PYTHON" -c "print($MINUTES + 1)")" ${EXTRA:-}
"$PYTHON" -m training.train --out "$RUN" --export "$RUN/export"
split -b 15M "$RUN/export/model.safetensors" "$BACK/model.safetensors.part-"
cp "$RUN/export/config.json" "$RUN/export/training.json" "$BACK/"
# On the lease too, each allowed to fail without losing the weights above: the held-out
# evaluation of the export through the server's path, and the CUDA checks at its shape.
if [ "${CHECKS:-1}" = 1 ]; then
    "$PYTHON" -m bench.quality --model "$RUN/export" --holes "${HOLES:-200}" \
        --humaneval "${HUMANEVAL:-100}" --configs spm+heal --json "$BACK/quality.json" || true
    [ "$DEVICE" = cuda ] && { "$PYTHON" -m bench.gpu_check --shape "${CHECK_SHAPE:-v4_448x8}" \
        --json "$BACK/gpu_check.json" || true; }
fi
ls -la "$BACK"
