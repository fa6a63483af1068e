"""CIFAR-10 from its official python-pickle batches, read without trusting the pickles.

Choices and why:

- The official ``cifar-10-batches-py`` files (``data_batch_1`` .. ``data_batch_5``, ``test_batch``) are
  Python 2 cPickle dicts: ``b"data"`` a uint8 array (N, 3072) (1024 red, 1024 green, 1024 blue values,
  each plane row-major), ``b"labels"`` a list of ints 0-9, ``b"batch_label"``, ``b"filenames"``. A
  pickle can run code on load, so every file goes through :func:`cgbench.safe_pickle.restricted_load`
  with only the globals a numpy array needs: ``numpy.ndarray``, ``numpy.dtype`` and the array
  reconstructor ``_reconstruct`` (spelt ``numpy.core.multiarray`` in the official files, written by
  numpy 1.x, and ``numpy._core.multiarray`` by numpy 2), which is mapped to the installed numpy's own
  function so no deprecated module is imported. Anything else (``os.system``, ...) is refused.
- Python 2 ``str`` objects (the dict keys and the array's raw bytes) are pickled with the
  ``SHORT_BINSTRING`` / ``BINSTRING`` opcodes, which Python 3 decodes to text unless told
  ``encoding="bytes"``. Instead of a second unpickler with that option, the opcodes are rewritten to
  their Python 3 byte-string twins (``SHORT_BINBYTES`` / ``BINBYTES``, same length layout) before
  loading: the result is exactly what ``encoding="bytes"`` gives, through the one restricted loader.
  Walking the opcodes first also turns a truncated file into a clear error before anything is built.
- :func:`write_cifar10_batches` writes the same format (Python 2 string opcodes, protocol 2 header) so
  tests and benchmarks exercise the real reader on files shaped like the official ones.
- Downloading (only when asked) uses torchvision's md5-checked ``download_and_extract_archive`` with
  ``torchvision.datasets.CIFAR10``'s URL and checksum, not the ``CIFAR10`` dataset class itself,
  whose constructor would then unpickle the files with the unrestricted ``pickle.load``.
- Default data root: ``$CGBENCH_DATA``, else ``<CGBENCH_HOME>/data``.
- :func:`load_cifar10` records the sha256 of every batch file it read (``Cifar10.sha256``, hashed
  from the very bytes it parsed), so each training result names the data it was trained and
  tested on.
- :func:`synthetic_cifar10` makes learnable stand-in images (a class colour, a class stripe pattern,
  noise) so tests and CPU benchmarks need no download and can check that training learns.
  :func:`write_synthetic_cifar10` (``cgbench label data --synthetic N``) writes them in the official
  format *with a marker file* (``SYNTHETIC.json``) so that the whole labelling flow can be rehearsed
  offline: :func:`load_cifar10` reads the marker into ``Cifar10.synthetic``, every result trained on
  it records it, and collected labels made from it are named and described as synthetic.
- :func:`check_cifar10` (``cgbench label data --check``) says whether a folder holds the official
  files (torchvision's md5 of each), a marked synthetic set, or something else, and reads each file.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import pickle
import pickletools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from cgbench.errors import CgbenchError, InvalidFileError, InvalidInputError
from cgbench.safe_pickle import UnsafePickleError, restricted_load
from cgbench.sources import cgbench_home
from cgbench.userfiles import read_json

CIFAR10_FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
# Written next to the batches of a synthetic stand-in; its presence marks every label made from them.
SYNTHETIC_MARKER = "SYNTHETIC.json"
# The integers a synthetic marker records (how the stand-in was made); labels made from it quote them.
MARKER_COUNTS = ("seed", "n_train", "n_test")
IMAGE_SHAPE = (3, 32, 32)
PIXELS_PER_IMAGE = 3 * 32 * 32
NUM_CLASSES = 10

_ARRAY_RECONSTRUCT = np.zeros(0, np.uint8).__reduce__()[0]
CIFAR10_PICKLE_GLOBALS = frozenset({"numpy.ndarray", "numpy.dtype"})
CIFAR10_PICKLE_REPLACEMENTS = {
    "numpy.core.multiarray._reconstruct": _ARRAY_RECONSTRUCT,
    "numpy._core.multiarray._reconstruct": _ARRAY_RECONSTRUCT,
}
# Python 2 str opcode <-> Python 3 bytes opcode with the same argument layout.
_PY2_STRING_TO_BYTES = {"SHORT_BINSTRING": b"C", "BINSTRING": b"B"}
_BYTES_TO_PY2_STRING = {"SHORT_BINBYTES": b"U", "BINBYTES": b"T"}
_PROTOCOL_2 = b"\x80\x02"


class MissingDataError(CgbenchError, FileNotFoundError):
    """The data root holds no CIFAR-10 batches; the message names the command that gets them."""


class Cifar10DownloadError(CgbenchError, RuntimeError):
    """The official CIFAR-10 archive could not be downloaded (no network, a proxy, a bad checksum)."""


class Cifar10FormatError(InvalidFileError):
    """A CIFAR-10 batch file is missing, truncated, hostile or not shaped like the official ones."""


@dataclass(frozen=True)
class ImageSet:
    images: torch.Tensor  # uint8 (N, 3, 32, 32)
    labels: torch.Tensor  # int64 (N,)

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or tuple(self.images.shape[1:]) != IMAGE_SHAPE:
            raise ValueError(f"images must be uint8 (N, 3, 32, 32), got {self.images.dtype} "
                             f"{tuple(self.images.shape)}")
        if self.labels.dtype != torch.int64 or self.labels.shape != (len(self.images),):
            raise ValueError(f"labels must be int64 ({len(self.images)},) to match the images, got "
                             f"{self.labels.dtype} {tuple(self.labels.shape)}")
        if len(self.labels) and not (0 <= int(self.labels.min()) and int(self.labels.max()) < NUM_CLASSES):
            raise ValueError(f"labels must lie in 0..{NUM_CLASSES - 1}, got "
                             f"{int(self.labels.min())}..{int(self.labels.max())}")

    def __len__(self) -> int:
        return len(self.labels)

    def first(self, n: int) -> ImageSet:
        return ImageSet(self.images[:n], self.labels[:n])


@dataclass(frozen=True)
class Cifar10:
    train: ImageSet
    test: ImageSet
    folder: Path
    # sha256 of every batch file read, by file name (empty for data made in memory): results record it.
    sha256: dict[str, str] = field(default_factory=dict)
    # The marker of a synthetic stand-in (how it was made), None for real data.
    synthetic: dict | None = None

    def describe(self) -> dict:
        """What a result records about the data it was trained on (besides the files' sha256)."""
        return {"folder": str(self.folder), "n_train_images": len(self.train), "n_test_images": len(self.test),
                "synthetic": self.synthetic}


def default_data_root() -> Path:
    return Path(os.environ.get("CGBENCH_DATA", cgbench_home() / "data"))


def load_cifar10(root: str | Path, download: bool = False) -> Cifar10:
    """The training (50,000) and test (10,000) images of ``root/cifar-10-batches-py``."""
    folder = Path(root) / CIFAR10_FOLDER
    if download and not has_all_batches(Path(root)):
        download_cifar10(Path(root))
    if not folder.is_dir():
        raise MissingDataError(
            f"no CIFAR-10 folder {folder}; expected the official python batches there "
            f"(`cgbench label data --download --data-root {root}` or load_cifar10(root, download=True) fetches them; "
            f"`cgbench label data --synthetic 5000 --data-root {root}` writes a stand-in to rehearse offline)"
        )
    train_files = sorted(folder.glob("data_batch_*"), key=lambda p: _batch_number(p))
    if not train_files:
        raise FileNotFoundError(f"{folder} holds no data_batch_* files")
    if not (folder / TEST_BATCH).is_file():
        raise FileNotFoundError(f"{folder} holds no {TEST_BATCH} file")
    batches, sha256 = {}, {}
    for path in [*train_files, folder / TEST_BATCH]:
        data = path.read_bytes()
        sha256[path.name] = hashlib.sha256(data).hexdigest()
        batches[path.name] = _parse_batch(data, path)
    return Cifar10(train=_concat([batches[p.name] for p in train_files]), test=batches[TEST_BATCH], folder=folder,
                   sha256=sha256, synthetic=read_synthetic_marker(folder))


def read_batch(path: Path) -> ImageSet:
    """One official batch file as an :class:`ImageSet`; :class:`Cifar10FormatError` if it is not one."""
    return _parse_batch(Path(path).read_bytes(), Path(path))


def _parse_batch(data: bytes, path: Path) -> ImageSet:
    batch = _unpickle_python2(data, path)
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        keys = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
        raise Cifar10FormatError(f"{path}: expected a dict with b'data' and b'labels', got {keys}")
    data, labels = batch[b"data"], batch[b"labels"]
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2
            and data.shape[1] == PIXELS_PER_IMAGE):
        shape = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise Cifar10FormatError(f"{path}: b'data' must be a uint8 array (N, {PIXELS_PER_IMAGE}), got {shape}")
    if not isinstance(labels, list) or len(labels) != len(data):
        got = f"{len(labels)} labels" if isinstance(labels, list) else type(labels).__name__
        raise Cifar10FormatError(f"{path}: b'labels' must be a list of {len(data)} ints (one per image), got {got}")
    try:
        return ImageSet(torch.from_numpy(data.reshape(-1, *IMAGE_SHAPE).copy()),
                        torch.tensor(labels, dtype=torch.int64))
    except (TypeError, ValueError, RuntimeError) as error:
        raise Cifar10FormatError(f"{path}: {error}") from error


def write_cifar10_batches(root: str | Path, train: ImageSet, test: ImageSet, n_train_batches: int = 5) -> Path:
    """Write ``train`` (split into ``n_train_batches`` files) and ``test`` in the official format."""
    if not 1 <= n_train_batches <= len(train):
        raise ValueError(f"n_train_batches must be in 1..{len(train)} (the training images), got {n_train_batches}")
    folder = Path(root) / CIFAR10_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    bounds = np.linspace(0, len(train), n_train_batches + 1).round().astype(int)
    for i in range(n_train_batches):
        part = ImageSet(train.images[bounds[i]:bounds[i + 1]], train.labels[bounds[i]:bounds[i + 1]])
        _write_batch(folder / f"data_batch_{i + 1}", part, f"training batch {i + 1} of {n_train_batches}")
    _write_batch(folder / TEST_BATCH, test, "testing batch 1 of 1")
    return folder


def synthetic_cifar10(n_train: int, n_test: int, seed: int) -> tuple[ImageSet, ImageSet]:
    """Learnable CIFAR-shaped images: per class a mean colour and a stripe pattern, plus pixel noise.

    The class signal survives crop and flip (colour everywhere, stripes at a class angle and
    frequency), so a small network trained briefly clearly beats chance (10%).
    """
    generator = torch.Generator().manual_seed(seed)
    colours = torch.rand(NUM_CLASSES, 3, 1, 1, generator=generator) * 120 + 60
    angles = torch.rand(NUM_CLASSES, generator=generator) * math.pi
    frequencies = torch.rand(NUM_CLASSES, generator=generator) * 0.6 + 0.3
    ys, xs = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    stripes = torch.stack([torch.sin(frequencies[c] * (xs * torch.cos(angles[c]) + ys * torch.sin(angles[c])))
                           for c in range(NUM_CLASSES)])  # (10, 32, 32)
    templates = colours + 40 * stripes[:, None]  # (10, 3, 32, 32)

    def draw(n: int) -> ImageSet:
        labels = torch.randint(0, NUM_CLASSES, (n,), generator=generator)
        noise = torch.randn(n, *IMAGE_SHAPE, generator=generator) * 30
        images = (templates[labels] + noise).round().clamp(0, 255).to(torch.uint8)
        return ImageSet(images, labels)

    return draw(n_train), draw(n_test)


def write_synthetic_cifar10(root: str | Path, n_train: int, n_test: int | None = None, seed: int = 0) -> Path:
    """Write a learnable synthetic stand-in (:func:`synthetic_cifar10`) in the official format, marked as synthetic.

    ``n_test`` defaults to a fifth of ``n_train`` (at least 100). Returns the batches' folder.
    """
    if n_train < 5:
        raise InvalidInputError(f"a synthetic set needs at least 5 training images (one per batch file), got {n_train}")
    n_test = n_test if n_test is not None else max(100, n_train // 5)
    train, test = synthetic_cifar10(n_train, n_test, seed)
    folder = write_cifar10_batches(root, train, test)
    marker = {"synthetic": True, "generator": "labeling.cifar10.synthetic_cifar10", "seed": seed,
              "n_train": n_train, "n_test": n_test,
              "note": "generated images (class colour + stripes + noise), NOT CIFAR-10: for rehearsing the "
                      "labelling flow offline; accuracies trained on them are not CIFAR-10 labels"}
    (folder / SYNTHETIC_MARKER).write_text(json.dumps(marker, indent=2, sort_keys=True))
    return folder


def read_synthetic_marker(folder: Path) -> dict | None:
    """The synthetic marker of a batches folder (how the stand-in was made), None if there is none."""
    path = Path(folder) / SYNTHETIC_MARKER
    if not path.is_file():
        return None
    marker = read_json(path, "the marker of a synthetic CIFAR-10 stand-in", limit=2**16)
    if not is_synthetic_marker(marker):
        raise InvalidFileError(f"{path} is not a synthetic-data marker written by `cgbench label data --synthetic` "
                               f"(expected a JSON object with \"synthetic\": true and integer {', '.join(MARKER_COUNTS)}); "
                               "remove it if the batches are real")
    return marker


def is_synthetic_marker(marker: object) -> bool:
    """Whether ``marker`` is what :func:`write_synthetic_cifar10` writes (results and collected labels carry it)."""
    return (isinstance(marker, dict) and marker.get("synthetic") is True
            and all(isinstance(marker.get(key), int) and not isinstance(marker.get(key), bool) for key in MARKER_COUNTS))


def has_all_batches(root: Path) -> bool:
    """Whether ``root/cifar-10-batches-py`` holds every training batch and the test batch."""
    folder = Path(root) / CIFAR10_FOLDER
    return all((folder / name).is_file() for name in (*TRAIN_BATCHES, TEST_BATCH))


def has_batches(root: Path) -> bool:
    """Whether ``root/cifar-10-batches-py`` holds a test batch and at least one training batch (what
    :func:`load_cifar10` needs; smaller sets, such as the tests', split the training images over fewer files)."""
    folder = Path(root) / CIFAR10_FOLDER
    return (folder / TEST_BATCH).is_file() and any(folder.glob("data_batch_*"))


def download_cifar10(root: Path) -> Path:
    """Download the official archive (torchvision's URL and md5) and unpack it under ``root``."""
    import urllib.error

    from torchvision.datasets import CIFAR10
    from torchvision.datasets.utils import download_and_extract_archive

    try:
        download_and_extract_archive(CIFAR10.url, str(root), filename=CIFAR10.filename, md5=CIFAR10.tgz_md5)
    except (urllib.error.URLError, OSError) as error:
        raise Cifar10DownloadError(
            f"could not download CIFAR-10 from {CIFAR10.url} into {root}: {error}. Copy the official "
            f"cifar-10-batches-py folder there yourself, or rehearse offline with "
            f"`cgbench label data --synthetic 5000 --data-root {root}`") from error
    folder = Path(root) / CIFAR10_FOLDER
    (folder / SYNTHETIC_MARKER).unlink(missing_ok=True)  # the official files replaced a stand-in
    return folder


@dataclass
class Cifar10Check:
    """What :func:`check_cifar10` found in a data root."""

    folder: Path
    files: dict[str, str] = field(default_factory=dict)  # batch file -> "official", "readable, not official", reason
    images: dict[str, int] = field(default_factory=dict)  # batch file -> number of images
    synthetic: dict | None = None

    @property
    def complete(self) -> bool:
        return all(self.files.get(name, "").startswith(("official", "readable")) for name in (*TRAIN_BATCHES, TEST_BATCH))

    @property
    def official(self) -> bool:
        return all(self.files.get(name) == "official" for name in (*TRAIN_BATCHES, TEST_BATCH))

    def lines(self) -> list[str]:
        kind = ("the official CIFAR-10 (every md5 matches torchvision's)" if self.official else
                "a SYNTHETIC stand-in (labels trained on it are rehearsal labels, not CIFAR-10)" if self.synthetic else
                "CIFAR-10-shaped batches that are not the official files" if self.complete else "incomplete")
        lines = [f"{self.folder}: {kind}"]
        for name in (*TRAIN_BATCHES, TEST_BATCH):
            count = f"{self.images[name]:6d} images" if name in self.images else " " * 13
            lines.append(f"  {name:12s} {count}  {self.files.get(name, 'missing')}")
        if self.synthetic:
            lines.append(f"  marker {SYNTHETIC_MARKER}: seed {self.synthetic['seed']}, {self.synthetic['n_train']} "
                         f"training + {self.synthetic['n_test']} test images")
        return lines


def check_cifar10(root: str | Path) -> Cifar10Check:
    """Check every batch file of ``root/cifar-10-batches-py``: present, md5 against torchvision's, readable."""
    from torchvision.datasets import CIFAR10

    folder = Path(root) / CIFAR10_FOLDER
    check = Cifar10Check(folder, synthetic=read_synthetic_marker(folder))
    for name, md5 in (*CIFAR10.train_list, *CIFAR10.test_list):
        path = folder / name
        if not path.is_file():
            continue
        try:
            check.images[name] = len(read_batch(path))
        except Cifar10FormatError as error:
            check.files[name] = f"UNREADABLE: {error}"
            continue
        official = hashlib.md5(path.read_bytes()).hexdigest() == md5
        check.files[name] = "official" if official else "readable, not official (md5 differs)"
    return check


def _batch_number(path: Path) -> int:
    suffix = path.name.removeprefix("data_batch_")
    if not suffix.isdigit():
        raise Cifar10FormatError(f"unexpected training batch file {path.name!r}; expected data_batch_<number>")
    return int(suffix)


def _concat(parts: list[ImageSet]) -> ImageSet:
    return ImageSet(torch.cat([p.images for p in parts]), torch.cat([p.labels for p in parts]))


def _unpickle_python2(data: bytes, path: Path):
    try:
        data = _swap_string_opcodes(data, _PY2_STRING_TO_BYTES)
        return restricted_load(data, CIFAR10_PICKLE_GLOBALS, CIFAR10_PICKLE_REPLACEMENTS)
    except UnsafePickleError as error:
        raise Cifar10FormatError(f"{path}: hostile or foreign pickle: {error}") from error
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as error:
        raise Cifar10FormatError(f"{path}: not a readable CIFAR-10 batch (truncated or corrupted?): {error}") from error


def _swap_string_opcodes(data: bytes, swap: dict[str, bytes]) -> bytes:
    """``data`` with each opcode named in ``swap`` replaced by the given opcode byte.

    Only twins with the same argument layout are swapped, so every other byte stays where it is.
    ValueError if ``data`` is not a complete pickle (truncated, no STOP) or uses text-mode strings.
    """
    patched = bytearray(data)
    end = None
    for opcode, _argument, position in pickletools.genops(data):
        if opcode.name == "STRING":
            raise ValueError("protocol-0 text strings are not used by the official CIFAR-10 files")
        if opcode.name in swap:
            patched[position] = swap[opcode.name][0]
        end = position + 1
    if end != len(data):
        raise ValueError(f"{len(data) - (end or 0)} unexpected bytes after the pickle's STOP")
    return bytes(patched)


def _write_batch(path: Path, part: ImageSet, batch_label: str) -> None:
    batch = {
        b"batch_label": batch_label.encode(),
        b"labels": [int(v) for v in part.labels],
        b"data": part.images.reshape(len(part), PIXELS_PER_IMAGE).numpy(),
        b"filenames": [f"synthetic_{i:06d}.png".encode() for i in range(len(part))],
    }
    # Protocol 3 writes bytes with BINBYTES opcodes; turning those into Python 2 str opcodes under a
    # protocol 2 header gives the official files' layout.
    data = _swap_string_opcodes(pickle.dumps(batch, protocol=3), _BYTES_TO_PY2_STRING)
    path.write_bytes(_PROTOCOL_2 + data[2:])
