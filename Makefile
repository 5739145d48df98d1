# Quick start: `make demo` and `make test` on a fresh machine.
#   make install       .venv with the package alone (what the demo needs)
#   make install-test  adds the test extras: pytest (with pytest-xdist), the TF Serving API, the studio's web stack
#                      with Playwright, and PyTorch CPU
#                      (PyTorch: the reference-equivalence tests and reading .pth checkpoints)
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
# PyTorch for the tests. On a Linux box whose default index serves CUDA builds (gigabytes),
# point pip at a CPU-only build, e.g. `make test TORCH_PIP_ARGS="--index-url <cpu index>"`.
TORCH ?= torch==2.13.0
TORCH_PIP_ARGS ?=

.PHONY: install install-test browser demo test clean

install: $(STAMP)

$(STAMP): setup.cfg setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip setuptools wheel
	$(PY) -m pip install -e .
	touch $(STAMP)

install-test: $(TEST_STAMP)

$(TEST_STAMP): $(STAMP)
	$(PY) -m pip install $(TORCH_PIP_ARGS) '$(TORCH)'
	$(PY) -m pip install -e '.[test,torch]'
	touch $(TEST_STAMP)

# Trains a small CTN on the synthetic set, then exports it, scores it against the best
# constant prediction and draws its composite predictions.
# Prints each task against its best constant and the wall time (install aside).
demo: install
	start=$$(date +%s) && \
	$(PY) tools/train.py --flagfile=configs/demo.cfg && \
	$(PY) tools/export.py --model_dir=runs/demo --export_dir=exported/demo_model --tflite=fp32 \
		--data_dir=data/synthetic_pascal_mt_easy64 && \
	$(PY) tools/demo.py --model_dir=runs/demo --out=exported/demo --started_at=$$start

# The palette studio's browser tests drive Debian's Chromium through Playwright (which cannot
# download browsers here); without one they skip and say how to get it.
browser:
	@if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
			|| echo "note: could not install chromium: the studio's browser tests will skip" >&2; \
	else echo "note: no chromium, and not root with apt-get: the studio's browser tests will skip" >&2; fi

# Two pytest workers, a test file each (its module fixtures stay shared): most of a test's time
# is single-threaded tracing and start-up, so two files at once use both cores.
test: install-test browser
	$(PY) -m pytest -q -n 2 --dist loadfile tests

clean:
	rm -rf $(VENV) build *.egg-info
