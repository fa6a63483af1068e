"""GENNAPE's ``CG_data.zip``: finding its files in the zip, and unpickling its caches safely.

GENNAPE's README says to unpack the zip and copy its ``cache`` and ``data`` folders into the
repository, so files are looked up by name anywhere inside it (its top folder is not documented;
macOS resource forks under ``__MACOSX`` are skipped). The pickled caches refer to GENNAPE's CG
classes (``model_src.comp_graph.tf_comp_graph``) and DARTS' ``Genotype``; they are read with
:func:`cgbench.safe_pickle.restricted_load`, those classes replaced by the inert stand-ins below
and only the containers the format needs allowed (NumPy arrays and scalars, ``OrderedDict``,
``range``). What the CGs mean is the gennape family's business (``cgbench.families.gennape``).
"""

from __future__ import annotations

import pickle
import zipfile
import zlib
from collections import namedtuple
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from ..errors import InvalidFileError
from ..safe_pickle import UnsafePickleError, restricted_load
from ..userfiles import MAX_FILE_BYTES, check_file

# The largest GENNAPE file (a pickled cache) is far below this; a member that inflates beyond it is refused.
MAX_MEMBER_BYTES = 8 * MAX_FILE_BYTES


class PickledObject:
    """Receives a pickled GENNAPE object's attributes; it has no behaviour a pickle could trigger."""


class PickledComputeGraph(PickledObject):
    pass


class PickledNode(PickledObject):
    pass


class PickledRegularNode(PickledNode):
    pass


class PickledWeightedNode(PickledNode):
    pass


Genotype = namedtuple("Genotype", "normal normal_concat reduce reduce_concat")

_CG_MODULE = "model_src.comp_graph.tf_comp_graph"
PICKLE_REPLACEMENTS: dict[str, object] = {
    f"{_CG_MODULE}.ComputeGraph": PickledComputeGraph,
    f"{_CG_MODULE}.Node": PickledNode,
    f"{_CG_MODULE}.RegularNode": PickledRegularNode,
    f"{_CG_MODULE}.WeightedNode": PickledWeightedNode,
    # NB-301's 'original config': GENNAPE defines Genotype in model_src/darts/model_darts.py;
    # DARTS' own genotypes.py is where the original NB-301 genotypes were created.
    "model_src.darts.model_darts.Genotype": Genotype,
    "genotypes.Genotype": Genotype,
}
PICKLE_ALLOWED = frozenset({
    "collections.OrderedDict",
    "builtins.range",  # DARTS genotypes write their concat lists as range(2, 6)
    "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct",
    "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar",
    "numpy.ndarray", "numpy.dtype",
})


def load_cache(data: bytes, where: str) -> object:
    """A pickled GENNAPE cache; :class:`UnsafePickleError` for a global outside the format, else
    :class:`InvalidFileError` naming ``where`` if the bytes are not a complete pickle."""
    try:
        return restricted_load(data, PICKLE_ALLOWED, PICKLE_REPLACEMENTS)
    except UnsafePickleError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as err:
        raise InvalidFileError(f"{where} is not a readable pickle (truncated or corrupted?): "
                               f"{type(err).__name__}: {err}") from None


def _members(zf: zipfile.ZipFile, wanted: set[str], path: Path) -> dict[str, zipfile.ZipInfo]:
    found: dict[str, zipfile.ZipInfo] = {}
    for info in zf.infolist():
        name = PurePosixPath(info.filename)
        if name.name not in wanted or "__MACOSX" in name.parts or info.is_dir():
            continue
        if name.name in found:
            raise InvalidFileError(f"{path} holds {name.name} twice ({found[name.name].filename} and "
                                   f"{info.filename}); which one is meant?")
        found[name.name] = info
    return found


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> bytes:
    with zf.open(info) as member:
        data = member.read(MAX_MEMBER_BYTES + 1)
    if len(data) > MAX_MEMBER_BYTES:
        raise InvalidFileError(f"{path}: {info.filename} inflates to more than {MAX_MEMBER_BYTES // 2**20} MiB, "
                               "far more than any GENNAPE file")
    return data


def read_zip_files(path: Path, names: Iterable[str]) -> dict[str, bytes]:
    """The contents of the files called ``names`` wherever they sit in the zip ``path`` (those it holds)."""
    path = check_file(path, "GENNAPE's CG_data.zip")
    wanted = set(names)
    try:
        with zipfile.ZipFile(path) as zf:
            members = _members(zf, wanted, path)
            if not members:
                raise InvalidFileError(f"{path} holds none of GENNAPE's CG files ({', '.join(sorted(wanted))})")
            return {name: _read_member(zf, info, path) for name, info in members.items()}
    except (zipfile.BadZipFile, zlib.error, EOFError) as err:
        raise InvalidFileError(f"{path} is not a readable zip archive (truncated or corrupt download?): {err}") from None
