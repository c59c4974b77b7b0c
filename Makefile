# Each target creates its own virtual environment (.venv) and installs what it needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test fmt fmt-check validate clean

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

## fmt: rewrite ontology Turtle in canonical form
fmt: $(STAMP)
	$(BIN)/hipkg fmt ontology

fmt-check: $(STAMP)
	$(BIN)/hipkg fmt --check ontology

validate: $(STAMP)
	$(BIN)/hipkg validate

clean:
	rm -rf $(VENV) dist build .pytest_cache
