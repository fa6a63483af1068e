"""Pictures of CGs: graphviz when its ``dot`` program is installed, matplotlib otherwise."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from ..errors import InvalidInputError
from .model import ComputationGraph
from .vocab import OPS

FORMATS = (".png", ".svg", ".pdf")

_COLOURS = {"conv": "#9ecae1", "depthwise": "#c6dbef", "matmul": "#6baed6", "batchnorm": "#fdd0a2",
            "relu": "#c7e9c0", "relu6": "#c7e9c0", "add": "#fcbba1", "concat": "#fcbba1",
            "input": "#d9d9d9", "output": "#d9d9d9", "zero": "#ffffff"}


def node_label(cg: ComputationGraph, i: int) -> str:
    hi, ho, wi, wo, ci, co = (int(v) for v in cg.shape[i])
    op = OPS[cg.op[i]]
    kernel = f" {cg.attr[i, 0]}x{cg.attr[i, 1]}/{cg.attr[i, 2]}" if cg.attr[i, 0] else ""
    return f"{op}{kernel}\n{hi}x{wi}x{ci} -> {ho}x{wo}x{co}"


def draw(cg: ComputationGraph, path: str | Path, title: str = "", engine: str = "auto") -> Path:
    """Write a drawing of ``cg`` to ``path`` (.png, .svg or .pdf) and return the path."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; expected an image file name ({', '.join(FORMATS)})")
    if path.suffix.lower() not in FORMATS:
        got = path.suffix or "a name without a suffix"
        raise InvalidInputError(f"{path}: a drawing is written as {', '.join(FORMATS)}, not {got}")
    if engine == "auto":
        engine = "graphviz" if shutil.which("dot") else "matplotlib"
    if engine == "graphviz":
        return _draw_graphviz(cg, path, title)
    if engine == "matplotlib":
        return _draw_matplotlib(cg, path, title)
    raise ValueError(f"engine must be 'auto', 'graphviz' or 'matplotlib', got {engine!r}")


def _draw_graphviz(cg: ComputationGraph, path: Path, title: str) -> Path:
    import graphviz

    dot = graphviz.Digraph(graph_attr={"rankdir": "TB", "label": title, "labelloc": "t"},
                           node_attr={"shape": "box", "style": "rounded,filled", "fontsize": "10"})
    for i in range(cg.n_nodes):
        dot.node(str(i), node_label(cg, i), fillcolor=_COLOURS.get(OPS[cg.op[i]], "#f0f0f0"))
    for s, d in cg.edges.tolist():
        dot.edge(str(s), str(d))
    fmt = path.suffix.lower().lstrip(".")
    rendered = dot.render(outfile=str(path), format=fmt, cleanup=True)
    return Path(rendered)


def _layers(cg: ComputationGraph) -> np.ndarray:
    depth = np.zeros(cg.n_nodes, int)
    for s, d in cg.edges.tolist():  # edges are sorted by producer, which is topological
        depth[d] = max(depth[d], depth[s] + 1)
    return depth


def _draw_matplotlib(cg: ComputationGraph, path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    depth = _layers(cg)
    column = np.zeros(cg.n_nodes, int)
    seen: dict[int, int] = {}
    for i, d in enumerate(depth):
        column[i] = seen.get(d, 0)
        seen[d] = column[i] + 1
    width = max(seen.values())
    fig, ax = plt.subplots(figsize=(2.2 * width + 2, 0.9 * (depth.max() + 1) + 1))
    for s, d in cg.edges.tolist():
        ax.annotate("", xy=(column[d], -depth[d]), xytext=(column[s], -depth[s]),
                    arrowprops={"arrowstyle": "->", "color": "#777777", "lw": 0.8})
    for i in range(cg.n_nodes):
        ax.text(column[i], -depth[i], node_label(cg, i), ha="center", va="center", fontsize=7,
                bbox={"boxstyle": "round", "fc": _COLOURS.get(OPS[cg.op[i]], "#f0f0f0")})
    ax.set_xlim(-1, width)
    ax.set_ylim(-depth.max() - 1, 1)
    ax.axis("off")
    ax.set_title(title)
    fig.savefig(path, bbox_inches="tight", dpi=100)
    plt.close(fig)
    return path
