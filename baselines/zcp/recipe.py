"""The declared data recipe of a proxy score, recorded with every score.

A score is only comparable to another under the same recipe: which inputs (real CIFAR-10 /
ImageNet batches or seeded random tensors), how many and how large, the seed, BatchNorm mode and
precision. There is no silent batch splitting: a batch that does not fit fails loudly.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace

import torch


@dataclass(frozen=True)
class ProxyRecipe:
    batch_size: int = 64
    n_batches: int = 1
    # "random": seeded N(0, 1) images and uniform labels; "real": batches from a dataset.
    data: str = "random"
    seed: int = 0
    # "train" (batch statistics, as the NAS-Bench-Suite-Zero reference does) or "eval".
    bn_mode: str = "train"
    precision: str = "float32"

    def __post_init__(self) -> None:
        if self.data not in ("random", "real"):
            raise ValueError(f"recipe data must be 'random' or 'real', got {self.data!r}")
        if self.bn_mode not in ("train", "eval"):
            raise ValueError(f"recipe bn_mode must be 'train' or 'eval', got {self.bn_mode!r}")
        if self.precision not in ("float32", "float64"):
            raise ValueError(f"recipe precision must be 'float32' or 'float64', got {self.precision!r}")
        if self.batch_size < 1 or self.n_batches < 1:
            raise ValueError("recipe batch_size and n_batches must be positive")

    def with_(self, **changes) -> ProxyRecipe:
        return replace(self, **changes)

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def hash(self) -> str:
        return hashlib.sha256(json.dumps(self.as_dict(), sort_keys=True).encode()).hexdigest()[:12]

    @property
    def dtype(self) -> torch.dtype:
        return torch.float64 if self.precision == "float64" else torch.float32


@dataclass(frozen=True)
class ProxyBatch:
    """The inputs a proxy sees: ``n_batches`` pairs of images (N, C, H, W) and integer labels."""

    inputs: tuple[torch.Tensor, ...]
    targets: tuple[torch.Tensor, ...]
    num_classes: int


def random_batches(recipe: ProxyRecipe, image_shape: tuple[int, int, int], num_classes: int,
                   device: str | torch.device = "cpu") -> ProxyBatch:
    """Seeded random images and labels: the same recipe gives the same tensors on every machine."""
    generator = torch.Generator().manual_seed(recipe.seed)
    inputs, targets = [], []
    for _ in range(recipe.n_batches):
        inputs.append(torch.randn(recipe.batch_size, *image_shape, generator=generator, dtype=recipe.dtype).to(device))
        targets.append(torch.randint(0, num_classes, (recipe.batch_size,), generator=generator).to(device))
    return ProxyBatch(tuple(inputs), tuple(targets), num_classes)
