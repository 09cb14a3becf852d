# Two entry points, each sets everything up on a fresh machine and runs:
#   make demo   train -> evaluate -> search -> index on the built-in offline dataset, then serve the retrieval Space
#   make test   the test suite and the docstring examples of src/ (its browser tests need Debian's chromium, which setup installs when it is missing)
# TORCH_SPEC is the one place the torch pin lives: on these machines `torch==2.13.0` installs a local CPU build;
# elsewhere override it, e.g. `make test TORCH_SPEC="torch>=2.4"`.

PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.cmhash-installed
DEMO_DIR ?= runs/demo-gancmh32
DEMO_EPOCHS ?= 60
# The demo's scores by concept: relevance restricted to the 12 shape kinds, then to the 12 colours.
SHAPE_KINDS := circle square triangle star cross ring diamond hexagon heart crescent arrow semicircle
COLOURS := red green blue yellow purple orange white black pink brown cyan lime
DEMO_PORT ?= 7860
PYTEST_WORKERS ?= 2
CHROMIUM := /usr/bin/chromium

.PHONY: demo test setup clean

setup: $(STAMP) $(CHROMIUM)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# Only runs when the browser is missing (a file target); `npx playwright install` cannot download browsers here.
$(CHROMIUM):
	apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/cmhash train --method gancmh --dataset builtin:shapes --preset cpu64 --bits 32 \
		--image-augmentation dihedral --method-kwargs pair_adversarial_weight=0.01 --epochs $(DEMO_EPOCHS) \
		--output-dir $(DEMO_DIR) --overwrite-output-dir
	HF_HUB_OFFLINE=1 $(BIN)/cmhash evaluate $(DEMO_DIR) --labels $(SHAPE_KINDS) --labels $(COLOURS) --per-label
	HF_HUB_OFFLINE=1 $(BIN)/cmhash search $(DEMO_DIR) --text "a red circle" --text "a blue star and a yellow square" \
		--image-queries 2 -k 5
	HF_HUB_OFFLINE=1 $(BIN)/cmhash index $(DEMO_DIR) --dataset builtin:shapes --split database --output $(DEMO_DIR)/index
	@echo "Serving the retrieval Space at http://127.0.0.1:$(DEMO_PORT) (Ctrl+C to stop)"
	HF_HUB_OFFLINE=1 $(BIN)/python spaces/retrieval/app.py --model $(DEMO_DIR) --index $(DEMO_DIR)/index --port $(DEMO_PORT)

test: $(STAMP) $(CHROMIUM)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -n $(PYTEST_WORKERS) src tests

clean:
	rm -rf $(VENV) runs
