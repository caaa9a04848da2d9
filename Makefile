# Entry points a newcomer reads first. `make run` sets everything up and runs the service;
# `make test` installs what the tests need and runs them.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DATA   ?= data/labelled
MODELS ?= models

.PHONY: setup run model examples test benchmark benchmark-model benchmark-service benchmark-scale clean

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

# The browser tests drive Debian's chromium (Playwright cannot download its own browsers here).
test: setup
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)
	$(BIN)/python -m pytest -q

# Every benchmark, each printing its table; the real-data ones skip when ../shared is absent.
benchmark: setup benchmark-model benchmark-service benchmark-scale

benchmark-model: setup
	$(BIN)/python -m benchmarks.real_split
	$(BIN)/python -m benchmarks.ablation
	$(BIN)/python -m benchmarks.shipped_vs_real
	$(BIN)/python -m benchmarks.city_letters

# /predict under gunicorn against a bare echo app, with `wrk` when installed (apt-get install wrk).
benchmark-service: setup
	$(BIN)/python -m benchmarks.service_load
	$(BIN)/python -m benchmarks.masking

# Training time and peak memory at 1k, 10k and 100k complaints (about ten minutes).
benchmark-scale: setup
	$(BIN)/python -m benchmarks.scale

clean:
	rm -rf $(VENV) .pytest_cache
