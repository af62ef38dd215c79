.PHONY: demo test lint bench format

demo:
	python3 dev.py run

test:
	python3 dev.py test

lint:
	python3 dev.py setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/guanxi manage makemigrations --check --dry-run

format:
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .

bench:
	python3 dev.py setup
	@for b in benchmarks/*.py; do [ -e "$$b" ] || continue; echo "== $$b"; .venv/bin/python $$b || exit 1; done
