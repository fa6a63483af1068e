"""Restricted loading of ``.pt`` files: torch's weights_only unpickler plus the smallest allow-list."""

import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from cgbench.formats.help import read_latencies
from cgbench.formats.torch_file import NUMPY_INT64_SCALARS, UnsafeTorchFileError, load_torch_file

MIRROR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "help-latency"


class _RunsACommand:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _numpy1_pickle_file(path: Path, value) -> Path:
    """A ``.pt`` zip whose pickle names numpy scalars by their numpy-1 path, as HELP's ofa_archs.pt does."""
    data = pickle.dumps(value, protocol=2).replace(b"cnumpy._core.multiarray\nscalar\n",
                                                   b"cnumpy.core.multiarray\nscalar\n")
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", data)
        zf.writestr("archive/version", "3\n")
        zf.writestr("archive/byteorder", "little")
    return path


def test_a_pickle_that_runs_a_command_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "ran"
    torch.save({"latency": [1.0, 2.0], "payload": _RunsACommand(marker)}, tmp_path / "hostile.pt")
    for allowed in ((), NUMPY_INT64_SCALARS):
        with pytest.raises(UnsafeTorchFileError, match=r"hostile\.pt: refused to load: .*system"):
            load_torch_file(tmp_path / "hostile.pt", allowed)
    assert not marker.exists()


def test_the_numpy_allow_list_admits_int64_scalars_only(tmp_path):
    ints = _numpy1_pickle_file(tmp_path / "ints.pt", {"r": np.int64(204)})
    assert load_torch_file(ints, NUMPY_INT64_SCALARS) == {"r": 204}
    with pytest.raises(UnsafeTorchFileError, match="numpy.core.multiarray.scalar"):
        load_torch_file(ints)  # no allow-list: even the scalar is refused
    floats = _numpy1_pickle_file(tmp_path / "floats.pt", {"r": np.float64(0.5)})
    with pytest.raises(UnsafeTorchFileError, match="Float64DType"):
        load_torch_file(floats, NUMPY_INT64_SCALARS)


def test_helps_ofa_subnets_load_with_the_int64_allow_list_and_not_without(cgbench_home):
    path = MIRROR / "ofa" / "ofa_archs.pt"
    data = load_torch_file(path, NUMPY_INT64_SCALARS)
    assert len(data["arch"]) == 5000 and isinstance(data["arch"][0]["r"], np.int64)
    with pytest.raises(UnsafeTorchFileError):
        load_torch_file(path)


def test_latency_files_are_checked_for_length_type_and_sign(tmp_path):
    torch.save([1.5, 2.5], tmp_path / "two.pt")
    with pytest.raises(ValueError, match="expected a list of 3 latencies, found a list of 2"):
        read_latencies(tmp_path / "two.pt", 3, whole_ms=False)
    with pytest.raises(ValueError, match="expected Python ints, found float"):
        read_latencies(tmp_path / "two.pt", 2, whole_ms=True)
    torch.save([1.5, -2.5], tmp_path / "negative.pt")
    with pytest.raises(ValueError, match="positive and finite"):
        read_latencies(tmp_path / "negative.pt", 2, whole_ms=False)
    torch.save({"a": 1.0}, tmp_path / "dict.pt")
    with pytest.raises(ValueError, match="found dict"):
        read_latencies(tmp_path / "dict.pt", 1, whole_ms=False)
    assert read_latencies(tmp_path / "two.pt", 2, whole_ms=False).tolist() == [1.5, 2.5]
