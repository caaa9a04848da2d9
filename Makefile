# Entry points a newcomer reads first. `make run` sets everything up and runs the service;
# `make test` installs what the tests need and runs them.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DATA   ?= data/labelled
MODEL  ?= models/default

.PHONY: setup run model examples test benchmark clean

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

# Train the default model from the shipped data when there is none yet.
model: setup
	@test -f $(MODEL)/card.json || $(BIN)/python -m classifier.train --data $(DATA) --out $(MODEL)

examples: model
	$(BIN)/python -m classifier.predict --model $(MODEL) \
		--text "Lampu PJU di Jl. Daan Mogot depan ruko mati sudah seminggu, gelap banget rawan begal" \
		--text "ada ular kobra masuk ke dapur rumah sy di perumnas 2 karawaci tolong segera" \
		--text "KTP elektronik sy blm jadi udh 3 bln, katanya blangko habis terus"

run: examples

test: setup
	$(BIN)/python -m pytest -q

benchmark: setup
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) .pytest_cache
