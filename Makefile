# Two entry points, each sets everything up on a fresh machine and runs:
#   make demo   train -> evaluate -> search on the built-in offline dataset
#   make test   the test suite
# TORCH_SPEC is the one place the torch pin lives: on these machines `torch==2.13.0` installs a local CPU build;
# elsewhere override it, e.g. `make test TORCH_SPEC="torch>=2.4"`.

PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.cmhash-installed
DEMO_DIR ?= runs/demo-dcmh32
DEMO_EPOCHS ?= 30
PYTEST_WORKERS ?= 2

.PHONY: demo test setup clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/cmhash train --method dcmh --dataset builtin:shapes --preset cpu --bits 32 \
		--epochs $(DEMO_EPOCHS) --output-dir $(DEMO_DIR) --overwrite-output-dir
	HF_HUB_OFFLINE=1 $(BIN)/cmhash evaluate $(DEMO_DIR)
	HF_HUB_OFFLINE=1 $(BIN)/cmhash search $(DEMO_DIR) --text "a red circle" --text "a blue star and a yellow square" \
		--image-queries 2 -k 5

test: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -n $(PYTEST_WORKERS) tests

clean:
	rm -rf $(VENV) runs
