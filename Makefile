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

demo: install
	$(PY) tools/demo.py

test: install
	$(PY) -m pytest -q tests

clean:
	rm -rf $(VENV) build *.egg-info
