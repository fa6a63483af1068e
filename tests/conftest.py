import os
from pathlib import Path

import pytest

# The offline mirror of raw files: CGBENCH_MIRROR when set, else ../shared/data beside the checkout.
MIRROR = Path(os.environ.get("CGBENCH_MIRROR") or Path(__file__).resolve().parents[1].parent / "shared" / "data")


@pytest.fixture(scope="session")
def cgbench_home(tmp_path_factory):
    """A private cache for the whole session; raw files come from CGBENCH_MIRROR."""
    home = tmp_path_factory.mktemp("cgbench-home")
    os.environ["CGBENCH_HOME"] = str(home)
    if "CGBENCH_MIRROR" not in os.environ and MIRROR.is_dir():
        os.environ["CGBENCH_MIRROR"] = str(MIRROR)
    return home


@pytest.fixture(scope="session")
def nb201(cgbench_home):
    from cgbench import load_family

    return load_family("nb201", progress=False)


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread: on a shared two-core machine two threads spin against each other (up to 10x slower)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def data_root(tmp_path_factory):
    """A tiny CIFAR-10 (64 + 64 learnable synthetic images) in the official python-pickle batch format."""
    from labeling.cifar10 import synthetic_cifar10, write_cifar10_batches

    root = tmp_path_factory.mktemp("cifar")
    train, test = synthetic_cifar10(64, 64, seed=0)
    write_cifar10_batches(root, train, test, n_train_batches=2)
    return root


@pytest.fixture
def restore_collected(cgbench_home):
    """Call it with a family name: after the test, that family's collected label sets are deleted and
    the family re-merged, so later tests see it as built from its sources."""
    from cgbench.collected import collected_folder
    from cgbench.dataset import load_family

    families: list[str] = []
    yield families.append
    for family in families:
        for path in collected_folder(family).glob("*.parquet"):
            path.unlink()
        load_family(family, progress=False)


@pytest.fixture(scope="session")
def submission_document():
    """A submission that passes every check that needs no family data (two predictions, one run)."""
    from cgbench.submission import FORMAT_TAG

    return {
        "format": FORMAT_TAG,
        "method": {"name": "flops", "description": "d", "code_url": "https://example.org", "hardware": "cpu",
                   "n_parameters": 0, "scale": "rank",
                   "protocol": {"name": "quick", "train_cap": 300, "settings": "its defaults"}},
        "cgbench_version": "0.1.0",
        "families": {"nb101": {"version": "1.0", "data_sha256": "ab"}},
        "runs": [{"track": "in_family", "family": "nb101", "split": "random", "part": "test",
                  "target": "c10_val_acc_108ep", "seed": 0, "trained_on": ["nb101"],
                  "predictions": {"a": 0.5, "b": 0.25}}],
    }


@pytest.fixture
def cli_error(capsys):
    """Run ``cgbench ARGV`` expecting a user's error: exit status 2 and the error in one line, the last on
    stderr (progress bars of the work done before may precede it), with no traceback; returns that line."""
    from cgbench.cli import main

    def run(*argv: str) -> str:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit_info:
            main([str(a) for a in argv])
        err = capsys.readouterr().err
        assert exit_info.value.code == 2, err
        lines = err.strip().splitlines()
        assert "Traceback" not in err and [line for line in lines if ": error: " in line] == lines[-1:], err
        return lines[-1]

    return run
