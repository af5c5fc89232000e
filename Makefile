# FastSAM2: `make demo` trains and tests the toy model, `make test` runs the suite.
# Both set up .venv first (torch from this machine's disk, then `pip install -e .`);
# the set-up reruns only when setup.py or this Makefile change.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.fastsam2-installed
TORCH := torch==2.14.1 torchvision==0.29.1
DEMO_CONFIG := configs/toy/mask2former_r18_toy_panoptic.py
DEMO_DIR := work_dirs/demo
PYTEST_ARGS ?= -m "not slow"

.PHONY: install demo test test-all clean-demo

install: $(STAMP)

$(STAMP): setup.py Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip 'setuptools>=77.0.3,<82' wheel
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q --no-build-isolation -e '.[tests]'
	touch $@

demo: install
	$(PY) tools/data/make_toy_data.py --out data/toy --layouts coco_panoptic
	$(PY) tools/train.py $(DEMO_CONFIG) --work-dir $(DEMO_DIR)
	$(PY) tools/test.py $(DEMO_CONFIG) $$(cat $(DEMO_DIR)/last_checkpoint) --work-dir $(DEMO_DIR) --show-dir vis
	$(PY) tools/analysis/view_training_log.py $(DEMO_DIR) -s --plot $(DEMO_DIR)/loss_curves.png

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

test-all: PYTEST_ARGS :=
test-all: test

clean-demo:
	rm -rf $(DEMO_DIR)
