"""Hardware latency from HELP (Lee et al., NeurIPS 2021): devices, label columns, files. Registers nothing;
:mod:`cgbench.formats.help` reads the files.

HELP's repository (``HayeonLee/HELP``, MIT) ships, per search space, one ``latency/<file>.pt``
per device and batch size: a list of latencies in milliseconds, one per architecture, in the
space's own order (NB-201 index; the order of ``fbnet/arch.pt``; the order of ``ofa/ofa_archs.pt``).
A value is the time of one forward pass of a batch. GPU files name the batch size in their suffix
(``titan_rtx_256``); the other files do not state one. Four files are HW-NAS-Bench's (Li et al.,
ICLR 2021; eyeriss, fpga, pixel3, raspi4): Pixel 3 and Raspberry Pi 4 are measured, Eyeriss and
the FPGA are HW-NAS-Bench's estimates. Four phone files (pixel2, essential_ph_1, samsung_a50,
samsung_s7) hold whole milliseconds (Python ints), so many architectures tie; they are stored as
given, with the unit saying so.

Column names spell device, batch size and unit: ``lat_<device>_bs<batch>_ms`` for GPUs,
``lat_<device>_ms`` otherwise (``lat_titanxp_bs256_ms``, ``lat_pixel3_ms``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..formats.help import read_latencies
from ..sources import RawFile, github_file
from .base import LabelColumn

SOURCE_ID = "help-latency"
LICENCE = "MIT"
HELP_REPO = "HayeonLee/HELP"
HELP_COMMIT = "45f70eb92d0d735970a33b608d1544ad3c52f285"


@dataclass(frozen=True)
class Device:
    token: str  # how the device is spelled in column names
    model: str
    kind: str
    provenance: str


_HELP = "published by HELP (its files do not say how each value was measured)"
_HW_MEASURED = "HW-NAS-Bench's measurement (Li et al., ICLR 2021), as shipped by HELP"
_HW_ESTIMATED = "HW-NAS-Bench's estimate from its accelerator model (Li et al., ICLR 2021), as shipped by HELP"

# HELP's device spelling (file name without the GPU batch suffix) -> the device.
_GPUS = {
    "1080ti": Device("1080ti", "NVIDIA GeForce GTX 1080 Ti", "GPU", _HELP),
    "2080ti": Device("2080ti", "NVIDIA GeForce RTX 2080 Ti", "GPU", _HELP),
    "titan_rtx": Device("titanrtx", "NVIDIA Titan RTX", "GPU", _HELP),
    "titanx": Device("titanx", "NVIDIA GeForce GTX Titan X", "GPU", _HELP),
    "titanxp": Device("titanxp", "NVIDIA Titan Xp", "GPU", _HELP),
    "titan_xp": Device("titanxp", "NVIDIA Titan Xp", "GPU", _HELP),
    "v100": Device("v100", "NVIDIA Tesla V100", "GPU", _HELP),
}
_OTHERS = {
    "gold_6226": Device("gold6226", "Intel Xeon Gold 6226", "CPU", _HELP),
    "gold_6240": Device("gold6240", "Intel Xeon Gold 6240", "CPU", _HELP),
    "silver_4114": Device("silver4114", "Intel Xeon Silver 4114", "CPU", _HELP),
    "silver_4210r": Device("silver4210r", "Intel Xeon Silver 4210R", "CPU", _HELP),
    "pixel2": Device("pixel2", "Google Pixel 2", "phone", _HELP),
    "essential_ph_1": Device("essentialph1", "Essential PH-1", "phone", _HELP),
    "samsung_a50": Device("samsunga50", "Samsung Galaxy A50", "phone", _HELP),
    "samsung_s7": Device("samsungs7", "Samsung Galaxy S7", "phone", _HELP),
    "pixel3": Device("pixel3", "Google Pixel 3", "phone", _HW_MEASURED),
    "raspi4": Device("raspi4", "Raspberry Pi 4", "embedded", _HW_MEASURED),
    "eyeriss": Device("eyeriss", "Eyeriss ASIC", "accelerator", _HW_ESTIMATED),
    "fpga": Device("fpga", "HW-NAS-Bench's FPGA design", "accelerator", _HW_ESTIMATED),
}
# HW-NAS-Bench's devices in HELP's files (their index-0 NB-201 values equal HW-NAS-Bench's).
HW_NAS_BENCH_DEVICES = ("eyeriss", "fpga", "pixel3", "raspi4")
WHOLE_MS_DEVICES = ("pixel2", "essential_ph_1", "samsung_a50", "samsung_s7")
_GPU_FILE = re.compile(r"(.+)_(\d+)")


@dataclass(frozen=True)
class LatencyFile:
    """One HELP latency file of a search space and the label column it becomes."""

    raw: RawFile
    device: Device
    batch_size: int | None
    whole_ms: bool

    @property
    def column_name(self) -> str:
        batch = f"_bs{self.batch_size}" if self.batch_size is not None else ""
        return f"lat_{self.device.token}{batch}_ms"

    def label(self, network: str) -> LabelColumn:
        """The label column, for latencies of ``network`` (what was run, e.g. 'NB-201 CIFAR-10 network')."""
        batch = f"batch {self.batch_size}" if self.batch_size is not None else "batch size not stated by the source"
        unit = "ms (whole milliseconds: ties)" if self.whole_ms else "ms"
        return LabelColumn(
            self.column_name, SOURCE_ID, f"none: inference of the {network}", "n/a (a measured cost)", None, unit,
            "one stored value per architecture (repeats and averaging as done by the source)", LICENCE,
            f"latency of one forward pass ({batch}) on {self.device.model}: {self.device.provenance}; "
            f"HELP file data/{self.raw.filename}",
            higher_is_better=False, device=self.device.model, device_kind=self.device.kind,
            batch_size=self.batch_size)


def latency_file(space_dir: str, stem: str, sha256: str) -> LatencyFile:
    """The HELP file ``data/<space_dir>/latency/<stem>.pt`` with its declared sha256."""
    raw = github_file(SOURCE_ID, HELP_REPO, HELP_COMMIT, f"data/{space_dir}/latency/{stem}.pt", sha256, LICENCE)
    # The mirror keeps HELP's layout (``<space_dir>/latency/<stem>.pt``) under the source id.
    raw = RawFile(raw.source_id, f"{space_dir}/latency/{stem}.pt", raw.url, raw.sha256, raw.licence)
    if stem in _OTHERS:
        return LatencyFile(raw, _OTHERS[stem], None, stem in WHOLE_MS_DEVICES)
    match = _GPU_FILE.fullmatch(stem)
    if match is None or match.group(1) not in _GPUS:
        raise ValueError(f"unknown HELP latency file {stem!r}")
    return LatencyFile(raw, _GPUS[match.group(1)], int(match.group(2)), False)


def help_file(path: str, sha256: str) -> RawFile:
    """Another HELP data file (``path`` under ``data/``), kept under the mirror's HELP layout."""
    raw = github_file(SOURCE_ID, HELP_REPO, HELP_COMMIT, f"data/{path}", sha256, LICENCE)
    return RawFile(raw.source_id, path, raw.url, raw.sha256, raw.licence)


_KIND_ORDER = ("GPU", "CPU", "phone", "embedded", "accelerator")


def latency_files(space_dir: str, sha256s: dict[str, str]) -> tuple[LatencyFile, ...]:
    """The latency files of one search space (file stem -> sha256), GPUs first, then CPUs, phones, ..."""
    files = [latency_file(space_dir, stem, sha) for stem, sha in sha256s.items()]
    return tuple(sorted(files, key=lambda f: (_KIND_ORDER.index(f.device.kind), f.device.token, f.batch_size or 0)))


def read_latency_columns(files: tuple[LatencyFile, ...], raw_paths: dict[str, Path], n: int) -> dict[str, np.ndarray]:
    """Column name -> the ``n`` latencies of each file, in the file's (the space's own) order."""
    return {f.column_name: read_latencies(raw_paths[f.raw.key], n, f.whole_ms) for f in files}
