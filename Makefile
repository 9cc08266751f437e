# 小院+ — the two commands: `make run` and `make test`.
.PHONY: setup run test test-fast lint bench translations migration clean

VENV := .venv/bin
export PYTHONDONTWRITEBYTECODE := 1

setup:
	@bash scripts/setup.sh

run: setup
	@$(VENV)/xiaoyuan db upgrade
	@$(VENV)/xiaoyuan demo
	@$(VENV)/python -m xiaoyuan.banner
	@$(VENV)/xiaoyuan run

lint: setup
	$(VENV)/ruff check .
	$(VENV)/lint-imports
	$(VENV)/mypy

test: lint
	$(VENV)/pytest -q -p no:cacheprovider

test-fast: setup
	$(VENV)/pytest -q -m "not slow"

bench: setup
	$(VENV)/python bench/outbox.py
	$(VENV)/python bench/tv.py
	$(VENV)/python bench/voice.py
	$(VENV)/python bench/devices.py
	$(VENV)/python bench/alarm.py
	$(VENV)/python bench/sip.py
	$(VENV)/python bench/roster.py
	$(VENV)/python bench/district.py
	$(VENV)/python bench/watch.py

translations: setup
	$(VENV)/pybabel extract -F babel.cfg -k _ -k N_ -k translate -o core/translations/messages.pot .
	$(VENV)/pybabel update -i core/translations/messages.pot -d core/translations -D messages --no-fuzzy-matching
	$(VENV)/pybabel compile -d core/translations -D messages

migration: setup
	@test -n "$(m)" || (echo 'usage: make migration m="what changed"'; exit 2)
	$(VENV)/python -m xiaoyuan.devtools revision "$(m)"

clean:
	rm -rf .venv var .pytest_cache .ruff_cache
