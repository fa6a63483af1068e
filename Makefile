# The two entry points of the README: `make run` (the main job) and `make test`.
# Both install the Debian packages they need when missing (as root; otherwise they say which),
# then create .venv and install the project on first use.
VENV := .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

# Tests and CI read raw label files from the offline mirror when it is there.
ifeq ($(origin CGBENCH_MIRROR), undefined)
ifneq ($(wildcard ../shared/data),)
export CGBENCH_MIRROR := $(abspath ../shared/data)
endif
endif

.PHONY: run test bench system-deps-run system-deps-test

system-deps-run:
	@tools/system-deps.sh run

system-deps-test:
	@tools/system-deps.sh test

$(STAMP): pyproject.toml | system-deps-run
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/cgbench benchmark

test: system-deps-test $(STAMP)
	$(PYTHON) -m pytest -q

bench: $(STAMP)
	$(PYTHON) benchmarks/bench_cli_help.py
	$(PYTHON) benchmarks/bench_cold_start.py
	$(PYTHON) benchmarks/bench_new_user.py
	$(PYTHON) benchmarks/bench_nb201.py
	$(PYTHON) benchmarks/bench_families.py
	$(PYTHON) benchmarks/bench_graph_batches.py
	$(PYTHON) benchmarks/bench_label_throughput.py
