#!/usr/bin/env bash
# Usage: [GPUS=8] tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py args...]
set -x
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
CHECKPOINT=$4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
PY_ARGS=${@:5}
REPO="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON=${PYTHON:-python}
[[ -x "$REPO/.venv/bin/python" && -z "${VIRTUAL_ENV:-}" ]] && PYTHON="$REPO/.venv/bin/python"

PYTHONPATH="$REPO":$PYTHONPATH \
srun -p ${PARTITION} \
    --job-name=${JOB_NAME} \
    --gres=gpu:${GPUS_PER_NODE} \
    --ntasks=${GPUS} \
    --ntasks-per-node=${GPUS_PER_NODE} \
    --cpus-per-task=${CPUS_PER_TASK} \
    --kill-on-bad-exit=1 \
    ${SRUN_ARGS} \
    "$PYTHON" -u "$REPO/tools/test.py" ${CONFIG} ${CHECKPOINT} --launcher="slurm" ${PY_ARGS}
