# Two entry points (README "Quick start"); both set the environment up first (idempotent).
PY := .venv/bin/python
QUICKSTART_CONFIG ?= projects/PolarNeXt/configs/polarnext_r18_fpn-p2-refine_toy-cpu.py
QUICKSTART_DIR ?= work_dirs/quickstart
PYTEST_ARGS ?=
# Test processes (pytest-xdist); 0 = in-process. Tests are single-threaded, but many wait for
# tool subprocesses: on 2 cores 3 workers were fastest (README "Test time").
PYTEST_WORKERS ?= 3

.PHONY: setup test test-long quickstart toy-data coco128-data clean

setup:
	@bash tools/install_openmmlab.sh

data/toy/annotations/instances_train.json:
	$(PY) tools/misc/make_toy_dataset.py data/toy --seed 0

toy-data: setup data/toy/annotations/instances_train.json

# The 128-image COCO sample (7 MB) in data/coco128_seg/ (tools/misc/download_dataset.py).
data/coco128_seg/annotations/instances_val.json:
	$(PY) tools/misc/download_dataset.py coco128

coco128-data: setup data/coco128_seg/annotations/instances_val.json

test: setup
	$(PY) -m pytest tests -q -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# Long end-to-end runs (training several epochs); not part of `make test`.
test-long: setup
	$(PY) -m pytest tests -q -n $(PYTEST_WORKERS) --dist loadfile -m long --run-long $(PYTEST_ARGS)

quickstart: toy-data
	bash tools/quickstart.sh $(QUICKSTART_CONFIG) $(QUICKSTART_DIR)

clean:
	rm -rf work_dirs .pytest_cache
