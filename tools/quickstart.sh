#!/usr/bin/env bash
# Train CONFIG on the embedded toy dataset on CPU, evaluate COCO mask AP with tools/test.py
# and write visualised predictions (PNG) under WORK_DIR/vis/.
set -euo pipefail
CONFIG=${1:?config}
WORK_DIR=${2:-work_dirs/quickstart}
REPO="$(cd "$(dirname "$0")/.." && pwd)"
PY="$REPO/.venv/bin/python"
cd "$REPO"

"$PY" tools/train.py "$CONFIG" --work-dir "$WORK_DIR"
CKPT="$(cat "$WORK_DIR/last_checkpoint")"
"$PY" tools/test.py "$CONFIG" "$CKPT" --work-dir "$WORK_DIR" \
  --show-dir "$REPO/$WORK_DIR/vis" | tee "$WORK_DIR/test.log"
echo "segm mAP line:"; grep -E "segm_mAP" "$WORK_DIR/test.log" | tail -1
echo "visualised predictions: $(ls "$WORK_DIR"/vis/*.png 2>/dev/null | wc -l) PNG in $WORK_DIR/vis"
