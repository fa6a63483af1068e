"""The README's code blocks work as written.

- Every ```python block runs, in order, in one fresh interpreter with a private CGBENCH_HOME and
  the raw-file mirror (as a new user would after `make`).
- Every `cgbench ...` line of every ```bash block parses with the real command-line parser (its
  subcommands and options exist), and every `make` target it names exists.
- A ```bash block preceded by ``<!-- readme-test: run -->`` (the CPU labelling rehearsal) runs in
  bash, in the same CGBENCH_HOME, and must succeed.
"""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from cgbench.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
RUN_MARKER = "<!-- readme-test: run -->"
BLOCK = re.compile(r"(?P<marker><!-- readme-test: run -->\n)?```(?P<lang>\w+)\n(?P<code>.*?)```", re.S)


def blocks(lang: str) -> list[tuple[int, str, bool]]:
    """(line number, code, marked to run) of every block in ``lang``."""
    text = README.read_text()
    return [(text[:m.start("code")].count("\n") + 1, m.group("code"), bool(m.group("marker")))
            for m in BLOCK.finditer(text) if m.group("lang") == lang]


def commands(code: str) -> list[str]:
    """The shell commands of a bash block: continuations joined, `&&` chains split, comments and pipes cut off."""
    joined = code.replace("\\\n", " ")
    lines = [line.split(" #")[0].split(" | ")[0].strip() for line in joined.splitlines()]
    return [part.strip() for line in lines if line and not line.startswith("#") for part in line.split(" && ")]


def environment(home: Path) -> dict:
    env = {**os.environ, "CGBENCH_HOME": str(home), "OMP_NUM_THREADS": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.setdefault("CGBENCH_MIRROR", str(ROOT.parent / "shared" / "data"))
    return env


@pytest.fixture(scope="module")
def readme_home(tmp_path_factory):
    """A private home in which the README's python blocks have run (so NB-201 is built there)."""
    home = tmp_path_factory.mktemp("readme-home")
    script = "\n".join(f"# --- README.md line {line}\n{code}" for line, code, _ in blocks("python"))
    path = home / "readme_blocks.py"
    path.write_text(script)
    done = subprocess.run([sys.executable, str(path)], cwd=home, env=environment(home), capture_output=True,
                          text=True, timeout=3600)
    assert done.returncode == 0, f"README python blocks failed:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    return home, done.stdout


def test_readme_python_blocks_run_as_written(readme_home):
    _, out = readme_home
    assert "spearman" in out and "CG: " in out and "unmapped ops: none" in out and "roll x1" in out


def test_readme_bash_commands_exist_with_their_options():
    parser = build_parser()
    make_targets = set(re.findall(r"^([a-z-]+):", (ROOT / "Makefile").read_text(), re.M))
    checked = 0
    for line, code, _ in blocks("bash"):
        for command in commands(code):
            argv = shlex.split(command)
            if argv[0] == "make":
                assert argv[1] in make_targets, f"README line {line}: no make target {argv[1]!r}"
            elif argv[0] == "cgbench":
                try:
                    parser.parse_args(argv[1:])
                except SystemExit:
                    pytest.fail(f"README line {line}: `{command}` does not parse with cgbench's parser")
                checked += 1
    assert checked >= 20


def test_readme_rehearsal_block_runs(readme_home):
    home, _ = readme_home
    marked = [(line, code) for line, code, run in blocks("bash") if run]
    assert marked, f"no block marked {RUN_MARKER}"
    for line, code in marked:
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", code], cwd=home, env=environment(home),
                              capture_output=True, text=True, timeout=3600)
        assert done.returncode == 0, f"README block at line {line} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert "synthetic_c10_tiny_cpu_final" in done.stdout and "SYNTHETIC" in done.stdout
    assert "2 done, 0 pending" in done.stdout
