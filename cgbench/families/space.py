"""What a search space provides: configs with a canonical string, a network builder, a sampler.

Every family that comes from a search space (as opposed to a model zoo) subclasses
:class:`SearchSpace`. The ``arch_id`` is the canonical string of a config: two configs that
build the same network must have the same ``arch_id`` and ``parse(arch_id(c)) == c``.

Capturing every network with ``from_module`` costs ~0.1 s each, which is hours for spaces of
tens of thousands of networks on two cores. So each space also writes its network as a
*composition* of small pieces (:meth:`compose`, see ``fragments.py``): each distinct piece is
captured once and the CGs of whole networks are spliced from them. The generic tests check, for
every space, that the composed CG, FLOPs and parameter count equal ``from_module`` /
``count_flops`` / ``count_params`` of the whole built network.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from functools import cached_property
from typing import ClassVar, Generic, TypeVar

import numpy as np
import torch.nn as nn

from .fragments import Composer, Composition, FragmentCache

Config = TypeVar("Config")


class SearchSpace(ABC, Generic[Config]):
    name: ClassVar[str]
    # (N, C, H, W) of the input the space's labels were measured at; tests may use smaller.
    input_shape: ClassVar[tuple[int, int, int, int]]
    num_classes: ClassVar[int]

    @abstractmethod
    def arch_id(self, config: Config) -> str:
        """The canonical string of ``config``."""

    @abstractmethod
    def parse(self, arch_id: str) -> Config:
        """The config of a canonical string; ValueError with the reason if it is not one."""

    @abstractmethod
    def build(self, config: Config) -> nn.Module:
        """The PyTorch network of ``config`` (build it under ``torch.device('meta')`` for capture)."""

    @abstractmethod
    def compose(self, config: Config, composer: Composer) -> Composition:
        """The same network as :meth:`build`, written as pieces for ``composer``."""

    @abstractmethod
    def sample(self, rng: np.random.Generator) -> Config:
        """One config drawn with the space's own sampling distribution."""

    @cached_property
    def fragments(self) -> FragmentCache:
        """The space's own piece cache, shared by every :meth:`composed` call."""
        return FragmentCache()

    def composed(self, config: Config) -> Composition:
        """CG, FLOPs and parameters of ``config`` through :meth:`compose` and the space's cache."""
        return self.compose(config, Composer(self.fragments))

    def enumerate(self) -> Iterator[Config] | None:
        """Every config of the space, where the space is small enough; None otherwise."""
        return None

    def config_json(self, config: Config) -> str:
        """The config as JSON for the table's ``config`` column (the arch_id, unless overridden)."""
        import json

        return json.dumps(self.arch_id(config))

    def sample_unique(self, n: int, seed: int, max_tries_factor: int = 50) -> list[Config]:
        """``n`` configs with distinct arch_ids, drawn in order from ``default_rng(seed)``."""
        rng = np.random.default_rng(seed)
        seen: dict[str, Config] = {}
        for _ in range(n * max_tries_factor):
            if len(seen) == n:
                break
            config = self.sample(rng)
            seen.setdefault(self.arch_id(config), config)
        if len(seen) < n:
            raise ValueError(f"{self.name}: only {len(seen)} distinct configs after {n * max_tries_factor} draws")
        return list(seen.values())
