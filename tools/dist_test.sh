#!/usr/bin/env bash
# Usage: tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py args...]
# One process per GPU with nccl; on a machine without CUDA, GPUS CPU processes with gloo
# (tools/train.py switches the backend, see mmdet_ext/utils/dist.py).
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
REPO="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON=${PYTHON:-python}
[[ -x "$REPO/.venv/bin/python" && -z "${VIRTUAL_ENV:-}" ]] && PYTHON="$REPO/.venv/bin/python"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

PYTHONPATH="$REPO":$PYTHONPATH \
"$PYTHON" -m torch.distributed.run \
    --nnodes=$NNODES \
    --node_rank=$NODE_RANK \
    --master_addr=$MASTER_ADDR \
    --nproc_per_node=$GPUS \
    --master_port=$PORT \
    "$REPO/tools/test.py" \
    $CONFIG $CHECKPOINT \
    --launcher pytorch ${@:4}
