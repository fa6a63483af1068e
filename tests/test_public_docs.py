"""Docs where users look: every public function, class, method and property of the API a user
meets first has a docstring, and the objects they print say what they are."""

import inspect

import pytest

import cgbench
import cgbench.graph
from cgbench.dataset import Family
from cgbench.evaluation import Evaluator
from cgbench.graph import ComputationGraph
from cgbench.pyg import CGDataset, CollatedGraphs
from cgbench.storage import GraphTable


def _public_api():
    for name in cgbench.__all__:
        if name != "__version__":
            yield f"cgbench.{name}", getattr(cgbench, name)
    for name in cgbench.graph.__all__:
        obj = getattr(cgbench.graph, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            yield f"cgbench.graph.{name}", obj
    for cls in (Family, CGDataset, CollatedGraphs, Evaluator, GraphTable, ComputationGraph):
        for name, member in vars(cls).items():
            if name.startswith("_"):
                continue
            function = member.fget if isinstance(member, property) else getattr(member, "func", member)
            if callable(function):
                yield f"{cls.__name__}.{name}", function


@pytest.mark.parametrize("name, obj", list(_public_api()), ids=lambda v: v if isinstance(v, str) else "")
def test_public_api_has_a_docstring(name, obj):
    assert (obj.__doc__ or "").strip(), f"{name} has no docstring"


def test_family_evaluator_and_graph_say_what_they_are(nb201):
    text = repr(nb201)
    assert "Family('nb201'" in text and "n_archs=15625" in text and "[%]" in text and "fewshot50" in text
    evaluator = Evaluator(nb201, split="random", part="test")
    assert repr(evaluator).startswith("Evaluator('nb201', split='random', part='test', target='c10_valid_acc_200ep'")
    assert "n=1563" in repr(evaluator) and "spearman" in repr(evaluator)
    assert repr(nb201.graph(0)).startswith("ComputationGraph(n_nodes=")
