# Quick start: `make demo` and `make test` on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test clean

install: $(STAMP)

# torch (CPU) is only needed by the reference-equivalence tests and by reading
# .pth checkpoints; `pip install torch==2.13.0` is served from a local wheel here.
$(STAMP): setup.cfg setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip setuptools wheel
	$(PY) -m pip install torch==2.13.0
	$(PY) -m pip install -e '.[test,torch]'
	touch $(STAMP)

# Trains a small CTN on the synthetic set (~20 min on 2 cores), then scores it against the
# best constant prediction and draws its composite predictions.
demo: install
	$(PY) tools/train.py --flagfile=configs/demo.cfg
	$(PY) tools/export.py --model_dir=runs/demo --export_dir=exported/demo_model --tflite=fp32 \
		--data_dir=data/synthetic_pascal_mt_easy64
	$(PY) tools/demo.py --model_dir=runs/demo --out=exported/demo

test: install
	$(PY) -m pytest -q tests

clean:
	rm -rf $(VENV) build *.egg-info
