# Entry points a newcomer reads first. `make run` sets everything up and runs the service;
# `make test` installs what the tests need and runs them.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DATA   ?= data/labelled
MODELS ?= models

.PHONY: setup run model examples test benchmark clean

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

# Train the default model from the shipped data and promote it, when no model is promoted yet.
model: setup
	@test -s $(MODELS)/PROMOTED || ($(BIN)/python -m classifier.train --data $(DATA) --models-dir $(MODELS) \
		&& $(BIN)/python -m classifier.models --models-dir $(MODELS) promote latest)

examples: model
	$(BIN)/python -m classifier.predict --model $(MODELS) \
		--text "Lampu PJU di Jl. Daan Mogot depan ruko mati sudah seminggu, gelap banget rawan begal" \
		--text "ada ular kobra masuk ke dapur rumah sy di perumnas 2 karawaci tolong segera" \
		--text "KTP elektronik sy blm jadi udh 3 bln, katanya blangko habis terus"

# The service on 127.0.0.1:8000 (plain HTTP on loopback: secure-only cookies off; keep them on behind HTTPS).
run: examples
	LAKSA_API_KEYS=$${LAKSA_API_KEYS:-dev-key} LAKSA_SECURE_COOKIES=$${LAKSA_SECURE_COOKIES:-0} \
		$(BIN)/gunicorn -c gunicorn.conf.py 'classifier.serve:create_app()'

test: setup
	$(BIN)/python -m pytest -q

benchmark: setup
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) .pytest_cache
