"""Composing a network's CG from captured pieces, so that large spaces build in seconds.

A search space writes its network as calls on a :class:`Composer`: ``apply`` a piece (a small
``nn.Module`` named by a hashable key that fully determines it), ``add``/``mul``/``concat``
values, ``finish`` at the logits. Each distinct (key, input shape) is captured once with
``from_module`` and counted once with torch's FLOP counter; every later use splices the cached
fragment. The graph goes through the same :class:`GraphBuilder` and ``simplify`` as capture, and
merge nodes get the shape rule capture uses (the first operand is "in"), so a composed CG equals
the captured CG of the whole network; the generic search-space tests check exactly that.

Blocks (sub-compositions such as a cell) are cached raw, and ``simplify`` runs once on the whole
network: it folds the same zeros, merges the same add chains and drops the same dead code whether
a block was cleaned up first or not. :func:`compose_family` goes one step further and leaves every
network raw, then cleans up thousands at once with ``simplify_many`` (vectorised over the batch).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
from tqdm.auto import tqdm

from ..graph import ComputationGraph, GraphBuilder, count_flops, count_params, from_module
from ..graph.compose import BlockPlan, RawGraphs, SplicePlan, simplify_many
from ..graph.vocab import OP_ID
from ..storage import GraphTable


@dataclass(frozen=True)
class Value:
    """A tensor inside a composition: the CG nodes that carry it and its (C, H, W)."""

    nodes: tuple[int, ...]
    channels: int
    height: int
    width: int


@dataclass(frozen=True)
class Piece:
    plan: SplicePlan | BlockPlan
    output: tuple[int, int, int]  # (C, H, W) of the piece's output
    flops: int
    params: int


@dataclass(frozen=True)
class Composition:
    graph: ComputationGraph | None  # None from a deferred Composer
    flops: int
    params: int


class FragmentCache:
    """Captured pieces by (key, input C, H, W); share one across all networks of a family."""

    def __init__(self) -> None:
        self._pieces: dict[tuple[Hashable, int, int, int], Piece] = {}

    def __len__(self) -> int:
        return len(self._pieces)

    def piece(self, key: Hashable, make: Callable[[], nn.Module], channels: int, height: int, width: int) -> Piece:
        """The captured piece ``make()`` for an input of (channels, height, width)."""
        slot = (key, channels, height, width)
        found = self._pieces.get(slot)
        if found is None:
            shape = (1, channels, height, width)
            with torch.device("meta"):
                module = make()
            graph = from_module(module, shape)
            _, h, _, w, _, c = (int(v) for v in graph.shape[-1])
            found = Piece(SplicePlan.of(graph), (c, h, w), count_flops(module, shape), count_params(module))
            self._pieces[slot] = found
        return found

    def block(self, key: Hashable, compose: Callable[[Composer, Value], Value],
              channels: int, height: int, width: int) -> Piece:
        """A piece that is itself a composition of pieces (a cell, a block), composed once and kept raw."""
        slot = (key, channels, height, width)
        found = self._pieces.get(slot)
        if found is None:
            inner = Composer(self, deferred=True)
            y = compose(inner, inner.input(channels, height, width))
            inner.finish(y)
            found = Piece(BlockPlan(inner.builder), (y.channels, y.height, y.width), inner.flops, inner.params)
            self._pieces[slot] = found
        return found


class Composer:
    """Builds one network's CG from pieces; FLOPs and parameters add up over the pieces used.

    :meth:`finish` returns the simplified CG, or no graph (``None``) when ``deferred``: the graph
    stays in :attr:`builder`, for a block's plan or for ``compose_family``, which joins the
    builders of many networks and simplifies them at once.
    """

    def __init__(self, cache: FragmentCache, deferred: bool = False) -> None:
        self.cache = cache
        self.deferred = deferred
        self.builder = GraphBuilder(track_names=False)
        self.flops = 0
        self.params = 0

    def input(self, channels: int, height: int, width: int) -> Value:
        node = self.builder.add_node(OP_ID["input"], (height, height, width, width, channels, channels))
        return Value((node,), channels, height, width)

    def apply(self, key: Hashable, make: Callable[[], nn.Module], x: Value) -> Value:
        """Splice the piece ``make()`` (identified by ``key``) onto ``x``."""
        return self._splice(self.cache.piece(key, make, x.channels, x.height, x.width), x)

    def block(self, key: Hashable, compose: Callable[[Composer, Value], Value], x: Value) -> Value:
        """Splice the sub-composition ``compose(composer, x)`` (identified by ``key``) onto ``x``."""
        return self._splice(self.cache.block(key, compose, x.channels, x.height, x.width), x)

    def _splice(self, piece: Piece, x: Value) -> Value:
        self.flops += piece.flops
        self.params += piece.params
        return Value(tuple(self.builder.splice(piece.plan, x.nodes)), *piece.output)

    def _merge(self, op: str, values: Sequence[Value], channels: int) -> Value:
        first = values[0]
        shape = (first.height, first.height, first.width, first.width, first.channels, channels)
        inputs = [n for v in values for n in v.nodes]
        node = self.builder.add_node(OP_ID[op], shape, inputs=inputs)
        return Value((node,), channels, first.height, first.width)

    def add(self, *values: Value) -> Value:
        """An elementwise sum, written as one n-ary add (``simplify`` would merge a chain anyway)."""
        return self._merge("add", values, values[0].channels) if len(values) > 1 else values[0]

    def mul(self, a: Value, b: Value) -> Value:
        return self._merge("mul", (a, b), max(a.channels, b.channels))

    def concat(self, *values: Value) -> Value:
        """Channel concatenation; as in capture, a single operand is not a node."""
        if len(values) == 1:
            return values[0]
        return self._merge("concat", values, sum(v.channels for v in values))

    def finish(self, y: Value) -> Composition:
        shape = (y.height, y.height, y.width, y.width, y.channels, y.channels)
        self.builder.add_node(OP_ID["output"], shape, inputs=list(y.nodes))
        graph = None if self.deferred else self.builder.finish().validate()
        return Composition(graph, self.flops, self.params)


def sum_tensors(terms: Sequence[torch.Tensor]) -> torch.Tensor:
    """A cell's node sum in a network, as a chain of adds from the first term: ``sum(terms)`` would
    trace an extra add of the constant 0, which :meth:`Composer.add` does not write."""
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


def compose_family(space, configs: Sequence, progress: bool = True, fresh_cache_every: int | None = None,
                   chunk: int = 4096) -> tuple[GraphTable, np.ndarray, np.ndarray]:
    """CGs (as a GraphTable), FLOPs and parameter counts of ``configs`` of ``space``.

    Each network is composed without building its graph, and every ``chunk`` of them is joined
    (``RawGraphs``) and cleaned up at once (``simplify_many``): the same CGs as ``space.composed``
    gives one by one, several times faster. The space's own piece cache is used, or a fresh one
    every ``fresh_cache_every`` configs (bounded memory for spaces whose pieces are rarely shared).
    """
    tables, flops, params = [], np.zeros(len(configs), np.int64), np.zeros(len(configs), np.int64)
    cache = space.fragments
    builders: list[GraphBuilder] = []
    with tqdm(total=len(configs), desc=f"{space.name}: composing CGs", unit="CG", disable=not progress) as bar:
        for i, config in enumerate(configs):
            if fresh_cache_every and i % fresh_cache_every == 0:
                cache = FragmentCache()
            composer = Composer(cache, deferred=True)
            result = space.compose(config, composer)
            builders.append(composer.builder)
            flops[i], params[i] = result.flops, result.params
            if len(builders) == chunk or i == len(configs) - 1:
                tables.append(_simplified(RawGraphs.of(builders)))
                builders = []
            bar.update()
    return GraphTable.concat(tables), flops, params


def _simplified(raw: RawGraphs) -> GraphTable:
    kept, node_ptr, edge_ptr, edges = simplify_many(raw.node_ptr, raw.op, raw.src, raw.dst)
    return GraphTable(node_ptr, edge_ptr, raw.op[kept], raw.shape[kept], raw.attr[kept], edges).validate()
