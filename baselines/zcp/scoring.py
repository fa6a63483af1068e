"""Scoring a family with proxies, and the stored score tables.

Each architecture's network is built from the family's search space, seeded with the recipe's
seed right before ``build`` (same recipe -> same initial weights -> the same score on every
run). **Every score call gets a freshly built network**, so a proxy can never see what another
proxy did to a network (building is milliseconds next to a proxy's forward and backward
passes); the proxies in this package also leave the network unchanged (see ``common.py``).
Network and inputs live on ``device``; the proxies follow the device of the batch tensors.

Scores go to a Parquet side table of the family, ``<family folder>/proxies/<proxy>-<recipe
hash>.parquet`` with columns ``arch_id``, ``score``, ``seconds`` (wall time of the score
call alone) and ``error`` (null, or why the network could not be scored: its score is then NaN;
``NETWORK_ERRORS`` are the failures of one network, recorded and never dropped, while any other
exception stops the run) and the proxy, recipe and family version as JSON in the file's metadata. Files are
rewritten atomically every ``flush_every`` new scores and when scoring stops for any reason;
a later call skips the arch_ids already stored (resumable). Rows that share an arch_id (NB-101
lists some cells under several keys) are scored once.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from tqdm.auto import tqdm

from cgbench.dataset import Family
from cgbench.errors import InvalidFileError
from cgbench.families.space import SearchSpace
from cgbench.storage import atomic_write, read_parquet_file

from .proxies import get_proxy
from .recipe import ProxyBatch, ProxyRecipe, random_batches

METADATA_KEY = b"cgbench.zcp"
DATA_ROOT_ENV = "CGBENCH_CIFAR10"
# CIFAR-10 channel statistics of the training set, the normalisation NAS-Bench-Suite-Zero uses.
CIFAR10_MEAN = (0.49139968, 0.48215827, 0.44653124)
CIFAR10_STD = (0.24703233, 0.24348505, 0.26158768)
SCHEMA = pa.schema([("arch_id", pa.string()), ("score", pa.float64()), ("seconds", pa.float64()),
                    ("error", pa.string())])
# What one network's scoring may raise without stopping the others: torch's errors (out of memory, a
# singular matrix: RuntimeError), a shape or value a proxy cannot handle, an overflow.
NETWORK_ERRORS = (RuntimeError, ValueError, ArithmeticError)


def proxy_recipe(proxy_name: str, overrides: dict | None = None) -> ProxyRecipe:
    """The proxy's declared recipe with ``overrides`` (field -> value) applied."""
    recipe = get_proxy(proxy_name).recipe
    unknown = set(overrides or {}) - set(recipe.as_dict())
    if unknown:
        raise ValueError(f"unknown recipe fields {sorted(unknown)}; a recipe has {sorted(recipe.as_dict())}")
    return recipe.with_(**(overrides or {}))


def scores_path(family: Family, proxy_name: str, recipe: ProxyRecipe) -> Path:
    return family.folder / "proxies" / f"{proxy_name}-{recipe.hash}.parquet"


# ---------------------------------------------------------------------------------------------
# Inputs


def family_space(family: Family) -> SearchSpace:
    space = family.spec.space
    if space is None:
        raise ValueError(f"{family.name} is a model zoo without a search space; proxies build networks from "
                         "a family's search space (parse(arch_id) -> build)")
    return space


def takes_cifar10(space: SearchSpace) -> bool:
    """Whether ``space``'s networks take CIFAR-10 images (3x32x32, 10 classes), which real batches are."""
    return tuple(space.input_shape[1:]) == (3, 32, 32) and space.num_classes == 10


def cifar10_on_disk(data_root: str | os.PathLike | None = None) -> bool:
    """Whether ``data_root`` (default ``$CGBENCH_CIFAR10``) holds torchvision's cifar-10-batches-py."""
    root = data_root or os.environ.get(DATA_ROOT_ENV)
    return bool(root) and (Path(root) / "cifar-10-batches-py" / "data_batch_1").is_file()


def real_cifar10_batches(recipe: ProxyRecipe, space: SearchSpace, device: str | torch.device,
                         data_root: str | os.PathLike | None) -> ProxyBatch:
    """Seeded draws of CIFAR-10 training images, normalised; needs a local copy of the dataset."""
    root = data_root or os.environ.get(DATA_ROOT_ENV)
    if not root:
        raise FileNotFoundError(
            f"recipe data='real' needs CIFAR-10 on disk: pass data_root= or set {DATA_ROOT_ENV} to the folder "
            "holding torchvision's cifar-10-batches-py (nothing is downloaded); or use data='random'")
    if not takes_cifar10(space):
        raise ValueError(f"real batches are CIFAR-10 (3x32x32, 10 classes) but {space.name} takes "
                         f"{tuple(space.input_shape[1:])} with {space.num_classes} classes")
    from torchvision.datasets import CIFAR10

    dataset = CIFAR10(str(root), train=True, download=False)
    generator = torch.Generator().manual_seed(recipe.seed)
    chosen = torch.randperm(len(dataset.data), generator=generator)[: recipe.batch_size * recipe.n_batches]
    images = torch.from_numpy(dataset.data[chosen.numpy()]).permute(0, 3, 1, 2).to(recipe.dtype) / 255
    images = (images - torch.tensor(CIFAR10_MEAN, dtype=recipe.dtype)[:, None, None]) / torch.tensor(
        CIFAR10_STD, dtype=recipe.dtype)[:, None, None]
    labels = torch.as_tensor(np.asarray(dataset.targets)[chosen.numpy()])
    return ProxyBatch(tuple(x.to(device) for x in images.split(recipe.batch_size)),
                      tuple(y.to(device) for y in labels.split(recipe.batch_size)), 10)


def recipe_batches(recipe: ProxyRecipe, space: SearchSpace, device: str | torch.device,
                   data_root: str | os.PathLike | None = None) -> ProxyBatch:
    if recipe.data == "real":
        return real_cifar10_batches(recipe, space, device, data_root)
    return random_batches(recipe, tuple(space.input_shape[1:]), space.num_classes, device)


def seeded_network(space: SearchSpace, arch_id: str, recipe: ProxyRecipe, device: str | torch.device) -> torch.nn.Module:
    """The network of ``arch_id`` with the initial weights that ``recipe.seed`` gives, on ``device``."""
    config = space.parse(arch_id)
    torch.manual_seed(recipe.seed)
    return space.build(config).to(device=device, dtype=recipe.dtype)


def timed_score(proxy_name: str, net: torch.nn.Module, batch: ProxyBatch, recipe: ProxyRecipe) -> tuple[float, float]:
    """(score, seconds) of one proxy call; waits for the device so the time is the call's own."""
    device = batch.inputs[0].device
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    value = get_proxy(proxy_name).score(net, batch, recipe)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return float(value), time.perf_counter() - start


def network_score(proxy_name: str, space: SearchSpace, arch_id: str, batch: ProxyBatch, recipe: ProxyRecipe,
                  device: str | torch.device) -> tuple[float, float, str | None]:
    """(score, seconds, error) of one network: building and scoring it; a failure of this network alone
    (``NETWORK_ERRORS``) gives a NaN score and the error in words."""
    start = time.perf_counter()
    try:
        value, seconds = timed_score(proxy_name, seeded_network(space, arch_id, recipe, device), batch, recipe)
    except NETWORK_ERRORS as error:
        return math.nan, time.perf_counter() - start, f"{type(error).__name__}: {str(error)[:300]}"
    return value, seconds, None


# ---------------------------------------------------------------------------------------------
# Stored scores


@dataclass
class ScoreFile:
    path: Path
    proxy: str
    recipe: ProxyRecipe
    family_version: str

    def metadata(self) -> dict:
        return {"proxy": self.proxy, "recipe": self.recipe.as_dict(), "recipe_hash": self.recipe.hash,
                "family_version": self.family_version}

    def read(self) -> pa.Table:
        if not self.path.exists():
            return SCHEMA.empty_table()
        table = read_parquet_file(self.path, "score file", "delete it and score again")
        try:
            stored = json.loads((table.schema.metadata or {})[METADATA_KEY])
        except (KeyError, json.JSONDecodeError, UnicodeDecodeError) as err:
            raise InvalidFileError(f"{self.path} is not a readable score file ({type(err).__name__}: {err}); "
                                   "delete it and score again") from None
        if not isinstance(stored, dict) or stored.get("recipe") != self.recipe.as_dict() \
                or stored.get("proxy") != self.proxy:
            raise InvalidFileError(f"{self.path} holds {str(stored)[:200]}, not "
                                   f"{self.proxy} under {self.recipe.as_dict()}: the file is misnamed; delete it")
        if "error" not in table.column_names:  # written before failures were recorded: none failed
            table = table.append_column("error", pa.nulls(len(table), pa.string()))
        return table.select(SCHEMA.names).cast(SCHEMA)

    def write(self, table: pa.Table) -> None:
        table = table.replace_schema_metadata({METADATA_KEY: json.dumps(self.metadata()).encode()})
        atomic_write(self.path, lambda tmp: pq.write_table(table, tmp))


def score_file(family: Family, proxy_name: str, recipe: ProxyRecipe) -> ScoreFile:
    return ScoreFile(scores_path(family, proxy_name, recipe), proxy_name, recipe, family.version)


def stored_recipe(path: Path) -> ProxyRecipe:
    """The recipe recorded in a stored score file."""
    return ProxyRecipe(**json.loads(pq.read_schema(path).metadata[METADATA_KEY])["recipe"])


def unique_arch_ids(family: Family, indices=None) -> list[str]:
    """The distinct arch_ids of rows ``indices`` (all rows if None), in row order."""
    arch_ids = family.arch_ids
    if indices is None:
        indices = range(len(arch_ids))
    chosen = []
    for i in indices:
        if not 0 <= int(i) < len(arch_ids):
            raise IndexError(f"{family.name} has {len(arch_ids)} architectures; index {i} is out of range")
        chosen.append(arch_ids[int(i)])
    return list(dict.fromkeys(chosen))


def score_family(family: Family, proxy_names: list[str], recipe_overrides: dict | None = None, indices=None,
                 device: str | torch.device = "cpu", progress: bool = True, data_root: str | None = None,
                 flush_every: int = 50) -> dict[str, Path]:
    """Score rows ``indices`` (all rows if None) of ``family`` with each proxy; returns the stored files.

    ``recipe_overrides`` (field -> value) change every proxy's declared recipe, e.g. ``{"seed": 1}``.
    ``data_root`` (or the ``CGBENCH_CIFAR10`` variable) locates CIFAR-10 for ``data="real"`` recipes.
    """
    space = family_space(family)
    arch_ids = unique_arch_ids(family, indices)
    written = {}
    for proxy_name in proxy_names:
        recipe = proxy_recipe(proxy_name, recipe_overrides)
        store = score_file(family, proxy_name, recipe)
        stored = store.read()
        done = set(stored.column("arch_id").to_pylist())
        todo = [a for a in arch_ids if a not in done]
        batch = recipe_batches(recipe, space, device, data_root) if todo else None
        fresh: dict[str, list] = {name: [] for name in SCHEMA.names}
        try:
            for arch_id in tqdm(todo, desc=f"{family.name} {proxy_name}", disable=not progress):
                scored = network_score(proxy_name, space, arch_id, batch, recipe, device)
                for column, item in zip(fresh, (arch_id, *scored)):
                    fresh[column].append(item)
                if len(fresh["arch_id"]) >= flush_every:
                    stored = _flush(store, stored, fresh)
        finally:
            if fresh["arch_id"] or not store.path.exists():
                _flush(store, stored, fresh)
        written[proxy_name] = store.path
    return written


def _flush(store: ScoreFile, stored: pa.Table, fresh: dict[str, list]) -> pa.Table:
    table = pa.concat_tables([stored, pa.table(fresh, schema=SCHEMA)])
    store.write(table)
    for values in fresh.values():
        values.clear()
    return table


def add_scores(family: Family, proxy_name: str, recipe: ProxyRecipe, arch_ids: list[str], scores: list[float],
               seconds: list[float], errors: list[str | None]) -> tuple[Path, int]:
    """Store scores computed elsewhere (a zcp plan's workers) in the family's score table; arch_ids already
    stored keep their score. Returns the file and how many scores were added."""
    store = score_file(family, proxy_name, recipe)
    stored = store.read()
    done = set(stored.column("arch_id").to_pylist())
    fresh: dict[str, list] = {name: [] for name in SCHEMA.names}
    for item in zip(arch_ids, scores, seconds, errors):
        if item[0] not in done:
            done.add(item[0])
            for column, value in zip(fresh, item):
                fresh[column].append(value)
    added = len(fresh["arch_id"])
    if added or not store.path.exists():
        _flush(store, stored, fresh)
    return store.path, added


def load_scores(family: Family, proxy_name: str, recipe: ProxyRecipe | None = None) -> np.ndarray:
    """Stored scores of ``proxy_name`` (its declared recipe if None) aligned with the family's rows; NaN
    where an architecture is not scored."""
    recipe = recipe or get_proxy(proxy_name).recipe
    store = score_file(family, proxy_name, recipe)
    if not store.path.exists():
        raise FileNotFoundError(f"no {proxy_name} scores of {family.name} under recipe {recipe.as_dict()} "
                                f"({store.path}); run `cgbench zcp score {family.name} --proxies {proxy_name}`")
    table = store.read()
    by_arch = dict(zip(table.column("arch_id").to_pylist(), table.column("score").to_numpy()))
    return np.array([by_arch.get(a, np.nan) for a in family.arch_ids], dtype=np.float64)
