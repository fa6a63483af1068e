"""Training recipes: every hyper-parameter that decides a label, declared and content-hashed.

A :class:`Recipe` fixes everything about how a network is trained except the seed (a work unit is
``(family, arch_id, recipe, seed)`` so one recipe covers repeated seeds; the seed is stored with
every result). Its :attr:`Recipe.hash` is the sha256 of the canonical JSON of :meth:`Recipe.as_dict`
(sorted keys, no whitespace), so two recipes with the same settings have the same hash whatever
their construction order or process, and any change of any field changes it. Result stores key
their units on this hash, so labels trained under different settings never mix.

Registered recipes and why:

- ``standard`` (the final labels): NAS-Bench-201's CIFAR-10 schedule (Dong & Yang, ICLR 2020, the
  training hyper-parameters of its benchmark section): 200 epochs, SGD with
  Nesterov momentum 0.9, peak learning rate 0.1 annealed per step by cosine to 0, weight decay
  5e-4, batch 256, augmentation = pad 4 + random 32x32 crop + random horizontal flip. Matching a
  published schedule makes our labels comparable in kind with NB-201's, whose networks are
  trained the same way. Two settings are our own choices: label smoothing 0 (a field NB-201 does
  not have; 0 keeps its plain cross-entropy) and bf16 autocast for the forward pass and loss
  (NB-201 trained in fp32), because bf16 tensor cores give several times fp32's throughput on
  current GPUs while weights, gradients and optimiser state stay fp32. That bf16 leaves accuracy
  within seed noise is common experience, not yet measured here: training a sample under an fp32
  copy of the recipe (a JSON recipe file) and comparing is the way to check it.
- ``short12``: the same schedule cut to 12 epochs (cosine over the 12 epochs), NB-201's 12-epoch
  low-fidelity budget.
- ``short36``: the same cut to 36 epochs, a middle fidelity.
- ``tiny_cpu``: for tests only: 2 epochs, batch 32, lr 0.05, fp32, the first 256 training images.

A recipe can also come from a JSON file holding exactly the fields of :class:`Recipe`
(:func:`resolve_recipe`); loading is strict, so a misspelt or missing field is an error rather
than a silently defaulted hyper-parameter.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from cgbench.errors import InvalidInputError
from cgbench.userfiles import read_json

# A recipe file is a few hundred bytes.
MAX_RECIPE_BYTES = 2**20
OPTIMIZERS = ("sgd",)
SCHEDULES = ("cosine",)
AUGMENTATIONS = ("crop_flip", "none")
PRECISIONS = ("bf16", "fp32")
HASH_LENGTH = 16
FLOAT_FIELDS = ("lr", "momentum", "weight_decay", "warmup_epochs", "label_smoothing")


@dataclass(frozen=True)
class Recipe:
    name: str
    epochs: int
    batch_size: int
    optimizer: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    warmup_epochs: float = 0.0
    label_smoothing: float = 0.0
    augmentation: str = "crop_flip"
    precision: str = "bf16"
    n_train: int | None = None

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            raise InvalidInputError(f"invalid recipe {self.name!r}: " + "; ".join(problems))
        # A JSON file may write lr 1 or 1.0; both must give the same recipe and hash.
        for name in FLOAT_FIELDS:
            object.__setattr__(self, name, float(getattr(self, name)))

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Recipe:
        if not isinstance(d, dict):
            raise InvalidInputError(f"a recipe must be a JSON object of its fields, got {type(d).__name__}")
        expected = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - expected)
        missing = sorted(expected - set(d))
        if unknown or missing:
            raise InvalidInputError(
                f"recipe fields do not match: unknown {unknown or 'none'}, missing {missing or 'none'}; "
                f"expected exactly {sorted(expected)}"
            )
        return cls(**d)

    @property
    def hash(self) -> str:
        canonical = json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:HASH_LENGTH]


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _problems(recipe: Recipe) -> list[str]:
    """Every way ``recipe`` is invalid, as messages saying what was expected."""
    checks = [
        (isinstance(recipe.name, str) and recipe.name != "", "name must be a non-empty string"),
        (_is_int(recipe.epochs) and recipe.epochs >= 1, f"epochs must be an int >= 1, got {recipe.epochs!r}"),
        (_is_int(recipe.batch_size) and recipe.batch_size >= 1,
         f"batch_size must be an int >= 1, got {recipe.batch_size!r}"),
        (recipe.optimizer in OPTIMIZERS, f"optimizer must be one of {OPTIMIZERS}, got {recipe.optimizer!r}"),
        (_is_number(recipe.lr) and recipe.lr > 0, f"lr must be a number > 0, got {recipe.lr!r}"),
        (_is_number(recipe.momentum) and 0 <= recipe.momentum < 1,
         f"momentum must be a number in [0, 1), got {recipe.momentum!r}"),
        (isinstance(recipe.nesterov, bool), f"nesterov must be true or false, got {recipe.nesterov!r}"),
        (not (recipe.nesterov is True and recipe.momentum == 0), "nesterov needs momentum > 0"),
        (_is_number(recipe.weight_decay) and recipe.weight_decay >= 0,
         f"weight_decay must be a number >= 0, got {recipe.weight_decay!r}"),
        (recipe.schedule in SCHEDULES, f"schedule must be one of {SCHEDULES}, got {recipe.schedule!r}"),
        (_is_number(recipe.warmup_epochs) and 0 <= recipe.warmup_epochs < _as_number(recipe.epochs),
         f"warmup_epochs must be a number in [0, epochs), got {recipe.warmup_epochs!r}"),
        (_is_number(recipe.label_smoothing) and 0 <= recipe.label_smoothing < 1,
         f"label_smoothing must be a number in [0, 1), got {recipe.label_smoothing!r}"),
        (recipe.augmentation in AUGMENTATIONS,
         f"augmentation must be one of {AUGMENTATIONS}, got {recipe.augmentation!r}"),
        (recipe.precision in PRECISIONS, f"precision must be one of {PRECISIONS}, got {recipe.precision!r}"),
        (recipe.n_train is None or (_is_int(recipe.n_train) and recipe.n_train >= 1),
         f"n_train must be null or an int >= 1, got {recipe.n_train!r}"),
    ]
    return [message for ok, message in checks if not ok]


def _as_number(value) -> float:
    return value if _is_number(value) else math.inf


_STANDARD = dict(batch_size=256, optimizer="sgd", lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4,
                 schedule="cosine", warmup_epochs=0.0, label_smoothing=0.0, augmentation="crop_flip",
                 precision="bf16", n_train=None)

_REGISTRY: dict[str, Recipe] = {
    "standard": Recipe(name="standard", epochs=200, **_STANDARD),
    "short12": Recipe(name="short12", epochs=12, **_STANDARD),
    "short36": Recipe(name="short36", epochs=36, **_STANDARD),
    "tiny_cpu": Recipe(name="tiny_cpu", epochs=2, **{**_STANDARD, "batch_size": 32, "lr": 0.05,
                                                       "precision": "fp32", "n_train": 256}),
}


def list_recipes() -> list[str]:
    return sorted(_REGISTRY)


def get_recipe(name: str) -> Recipe:
    if name not in _REGISTRY:
        raise InvalidInputError(f"unknown recipe {name!r}; registered recipes: {', '.join(list_recipes())}")
    return _REGISTRY[name]


def resolve_recipe(name_or_path: str | Path) -> Recipe:
    """A registered recipe by name, or the :class:`Recipe` stored as JSON in the file ``name_or_path``."""
    if str(name_or_path) in _REGISTRY:
        return _REGISTRY[str(name_or_path)]
    path = Path(name_or_path)
    if not path.is_file():
        raise InvalidInputError(
            f"{str(name_or_path)!r} is neither a registered recipe ({', '.join(list_recipes())}) "
            f"nor an existing JSON recipe file"
        )
    return Recipe.from_dict(read_json(path, "a recipe JSON file", MAX_RECIPE_BYTES))
