# Each target creates its own virtual environment (.venv) and installs what it needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench fmt fmt-check validate clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

## demo: validate the bundled graph, then answer an example situation
demo: $(STAMP)
	$(BIN)/hipkg validate
	$(BIN)/hipkg recommend examples/osteoarthritis-diabetes-hyperglycaemia.json

## test: the whole test suite
test: $(STAMP)
	$(BIN)/python -m pytest -q

## bench: engine, batch and whole-process timings side by side (prints a table; asserts nothing). QUICK=1 for a short run
bench: $(STAMP)
	$(BIN)/python bench/run.py $(if $(QUICK),--quick,)

## fmt: rewrite ontology Turtle in canonical form
fmt: $(STAMP)
	$(BIN)/hipkg fmt ontology

fmt-check: $(STAMP)
	$(BIN)/hipkg fmt --check ontology

validate: $(STAMP)
	$(BIN)/hipkg validate

clean:
	rm -rf $(VENV) dist build .pytest_cache
