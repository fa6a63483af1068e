"""The GENNAPE CG_data.zip importer, on a small zip written in GENNAPE's exact formats.

The pickles are made with classes whose module path is GENNAPE's
(``model_src.comp_graph.tf_comp_graph.ComputeGraph`` etc.), registered in ``sys.modules`` only
while the pickles are written, so the importer must read them through its stand-ins.
"""

import io
import json
import os
import pickle
import re
import sys
import types
import zipfile
from collections import namedtuple

import numpy as np
import pytest

from cgbench import load_family
from cgbench.cli import main
from cgbench.dataset import import_families
from cgbench.families.gennape import stored_gennape_features
from cgbench.graph.features import gennape_features
from cgbench.graph.vocab import OP_ID
from cgbench.safe_pickle import UnsafePickleError

# A small CIFAR network in GENNAPE's CG form, in GraphDef order:
# (name, op, resolution, strides, metadata, weight shape [Ci, Co, k1, k2] or None, input names).
STEM = [
    ("input", "input", (32, 32, 32, 32, 3, 3), None, None, None, ()),
    ("net/conv2d", "conv", (32, 32, 32, 32, 3, 16), (1, 1, 1, 1), {"padding": "same"}, (3, 16, 3, 3), ("input",)),
    ("net/fusedbatchnormv3", "batchnorm", (32, 32, 32, 32, 16, 16), None, None, None, ("net/conv2d",)),
    ("net/relu", "relu", (32, 32, 32, 32, 16, 16), None, None, None, ("net/fusedbatchnormv3",)),
    ("net/depthwise", "depthwise", (32, 16, 32, 16, 16, 16), (1, 2, 2, 1), None, (16, 1, 3, 3), ("net/relu",)),
    ("net/conv2d_1", "conv", (16, 16, 16, 16, 16, 32), (1, 1, 1, 1), None, (16, 32, 1, 1), ("net/depthwise",)),
    ("net/shortcut/conv2d", "conv", (32, 16, 32, 16, 16, 32), (1, 2, 2, 1), None, (16, 32, 1, 1), ("net/relu",)),
    ("net/add", "add", (16, 16, 16, 16, 32, 32), None, None, None, ("net/conv2d_1", "net/shortcut/conv2d")),
    ("net/maxpool", "maxpool", (16, 8, 16, 8, 32, 32), (1, 2, 2, 1), {"ksize": (1, 2, 2, 1)}, None, ("net/add",)),
    ("net/mean", "mean", (8, 1, 8, 1, 32, 32), None, None, None, ("net/maxpool",)),
    ("net/dense/matmul", "matmul", (1, 1, 1, 1, 32, 10), None, {"use_bias": True}, (32, 10, 0, 0), ("net/mean",)),
    ("output", "output", (1, 1, 1, 1, 10, 10), None, None, None, ("net/dense/matmul",)),
]
# The same network as a cgbench CG: GraphDef order is topological here, so it is kept.
EXPECTED_OP = [OP_ID[n] for n in ("input", "conv", "batchnorm", "relu", "depthwise", "conv", "conv", "add",
                                  "maxpool", "mean", "matmul", "output")]
EXPECTED_ATTR = [(0, 0, 0, 0, 0, 0), (3, 3, 1, 1, 1, 0), (0, 0, 0, 0, 0, 0), (0, 0, 0, 0, 0, 0), (3, 3, 2, 2, 16, 0),
                 (1, 1, 1, 1, 1, 0), (1, 1, 2, 2, 1, 0), (0, 0, 0, 0, 0, 0), (2, 2, 2, 2, 0, 0), (0, 0, 0, 0, 0, 0),
                 (0, 0, 0, 0, 1, 1), (0, 0, 0, 0, 0, 0)]
EXPECTED_EDGES = [(0, 1), (1, 2), (2, 3), (3, 4), (3, 6), (4, 5), (5, 7), (6, 7), (7, 8), (8, 9), (9, 10), (10, 11)]
WEIGHTED_GRAPHDEF = [1, 4, 5, 6, 10]  # GENNAPE puts these first, then the regular nodes


def network(resolution: int = 32, activation: str = "relu"):
    """STEM at another input resolution and activation, as GENNAPE's builders would produce it."""
    scale = resolution // 32
    rows = []
    for name, op, res, strides, meta, shape, inputs in STEM:
        res = tuple(v * scale if i < 4 and v != 1 else v for i, v in enumerate(res))
        rows.append((name.replace("relu", activation), activation if op == "relu" else op, res, strides, meta, shape,
                     tuple(i.replace("relu", activation) for i in inputs)))
    return rows


def state_dict(rows, name: str) -> dict:
    """GENNAPE's ``get_cg_state_dict`` of a CG built from ``rows`` (set_nodes_edge_pairs' layout)."""
    def node(k, row):
        name_, op, res, strides, meta, shape, _ = row
        fields = {"str_id": f"{k}|{name_}", "op_type_idx": OP_ID[op], "label": name_.split("/")[-1],
                  "resolution": list(res), "strides": strides, "metadata": meta}
        if shape is not None:
            fields["shape"] = list(shape)
        return fields

    weighted = [node(k, r) for k, r in enumerate(rows) if r[5] is not None]
    regular = [node(k, r) for k, r in enumerate(rows) if r[5] is None]
    index = {f["str_id"].split("|", 1)[1]: i for i, f in enumerate(weighted + regular)}
    edges = sorted((index[src], index[row[0]]) for row in rows for src in row[6])
    return {"name": name, "input_shape": (1, rows[0][2][0], rows[0][2][2], 3), "max_hidden_size": 512,
            "max_kernel_size": 7, "max_derived_H": 256, "max_derived_W": 256, "edge_pairs": edges,
            "regular_nodes": regular, "weighted_nodes": weighted}


@pytest.fixture
def gennape_module(monkeypatch):
    """GENNAPE's classes under their real module paths, present only while a test writes pickles."""
    module = types.ModuleType("model_src.comp_graph.tf_comp_graph")
    darts = types.ModuleType("model_src.darts.model_darts")

    class Node:
        def __init__(self, fields, type_idx):
            self.str_id, self.label, self.type_idx = fields["str_id"], fields["label"], type_idx
            self.resolution, self.strides, self.metadata = fields["resolution"], fields["strides"], fields["metadata"]
            self.op_type_idx = fields["op_type_idx"]

    class RegularNode(Node):
        def __init__(self, fields):
            super().__init__(fields, 0)

    class WeightedNode(Node):
        def __init__(self, fields):
            super().__init__(fields, 1)
            self.shape = fields["shape"]

    class ComputeGraph:
        def __init__(self, sd):
            self.name, self.input_shape, self.edge_pairs = sd["name"], sd["input_shape"], sd["edge_pairs"]
            self.regular_nodes = [RegularNode(n) for n in sd["regular_nodes"]]
            self.weighted_nodes = [WeightedNode(n) for n in sd["weighted_nodes"]]
            self.n_regular_nodes, self.n_weighted_nodes = len(self.regular_nodes), len(self.weighted_nodes)
            for key in ("max_hidden_size", "max_kernel_size", "max_derived_H", "max_derived_W"):
                setattr(self, key, sd[key])

    for cls in (Node, RegularNode, WeightedNode, ComputeGraph):
        cls.__module__, cls.__qualname__ = module.__name__, cls.__name__
        setattr(module, cls.__name__, cls)
    darts.Genotype = namedtuple("Genotype", "normal normal_concat reduce reduce_concat")
    darts.Genotype.__module__ = darts.__name__
    for name in ("model_src", "model_src.comp_graph", "model_src.darts"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(sys.modules, darts.__name__, darts)
    return types.SimpleNamespace(cg=module, darts=darts)


def nb101_cache(gennape) -> bytes:
    adjacency = np.triu(np.ones((4, 4), np.int64), 1)
    entries = [{"compute graph": gennape.cg.ComputeGraph(state_dict(STEM, f"NB101-Net{i}")),
                "acc": np.float64(0.9 + i / 100), "flops": 12.5 + i, "n_params": 1.25 + i,
                "original config": (["input", "conv3x3-bn-relu", "maxpool3x3", "output"], adjacency)}
               for i in range(3)]
    return pickle.dumps(entries, protocol=4)


def nb301_cache(gennape) -> bytes:
    genotype = gennape.darts.Genotype(normal=[("sep_conv_3x3", 0), ("skip_connect", 1)], normal_concat=range(2, 6),
                                      reduce=[("max_pool_3x3", 0), ("dil_conv_5x5", 1)], reduce_concat=[2, 3, 4, 5])
    entries = [{"compute graph": gennape.cg.ComputeGraph(state_dict(STEM, "NB301-Net0")), "acc": 0.93,
                "flops": 0.5, "n_params": 2.0, "original config": genotype}]
    return pickle.dumps(entries, protocol=4)


def ofa_cache(gennape) -> bytes:
    entries = []
    for i, (kind, block) in enumerate([("PN", "mbconv2_e3_k3"), ("MBV3", "mbconv3_e4_k5"), ("PN", "mbconv2_e6_k7")]):
        cg = gennape.cg.ComputeGraph(state_dict(network(224, "relu6"), f"OFA-{kind}-Net{i}"))
        entries.append({"compute graph": cg, "acc": 0.75 + i / 100, "flops": 300.0 + i, "n_params": 5.0,
                        "original config": (224, [[block, block], [block]])})
    return pickle.dumps(entries, protocol=4)


def hiaml_json() -> bytes:
    data = {str(k): {"net_config": {"blocks": ["a22", "z", "b23", "t31"][: k + 1]}, "max_perf": 90.0 + k,
                     "perfs": [50.0, 80.0 + k, 90.0 + k], "cg": state_dict(STEM, f"HiAMLNet{k}")}
            for k in range(4)}
    return json.dumps(data).encode()


def write_zip(path, members: dict[str, bytes]):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


@pytest.fixture
def cg_data_zip(tmp_path, gennape_module):
    return write_zip(tmp_path / "CG_data.zip", {
        "CG_data/cache/gpi_nb101_comp_graph_cache.pkl": nb101_cache(gennape_module),
        "__MACOSX/CG_data/cache/._gpi_nb101_comp_graph_cache.pkl": b"\x00\x05\x16\x07 resource fork",
        "CG_data/cache/gpi_nb301_comp_graph_cache.pkl": nb301_cache(gennape_module),
        "CG_data/cache/gpi_ofa_comp_graph_cache.pkl": ofa_cache(gennape_module),
        "CG_data/data/gpi_test_hiaml_cifar10_labelled_cg_data.json": hiaml_json(),
    })


@pytest.fixture
def imported(cgbench_home, cg_data_zip, tmp_path, monkeypatch):
    """The zip imported into a home of its own: imported families in the session's home would join the benchmark."""
    monkeypatch.setenv("CGBENCH_HOME", str(tmp_path / "home"))
    assert "model_src.comp_graph.tf_comp_graph" in sys.modules
    return import_families("gennape", cg_data_zip, progress=False)


FAMILIES = ["gennape_hiaml", "gennape_nb101", "gennape_nb301", "gennape_ofa_mbv3", "gennape_ofa_pn"]


def test_import_writes_every_family_the_zip_holds(imported):
    assert imported == FAMILIES


def test_hiaml_labels_configs_and_pyg(imported):
    hiaml = load_family("gennape_hiaml", progress=False)
    assert hiaml.arch_ids == ["0", "1", "2", "3"]
    assert hiaml.labels("acc") == pytest.approx([0.90, 0.91, 0.92, 0.93])
    assert json.loads(hiaml.table.column("config")[3].as_py()) == {"blocks": ["a22", "z", "b23", "t31"]}
    assert hiaml.table.column("gennape_perfs")[1].as_py() == [50.0, 81.0, 90.0 + 1]
    dataset = hiaml.to_pyg()
    assert len(dataset) == 4
    assert dataset[2].y.item() == pytest.approx(0.92)
    assert dataset[2].edge_index.shape == (2, len(EXPECTED_EDGES))


def test_a_converted_cg_node_by_node(imported):
    nb101 = load_family("gennape_nb101", progress=False)
    cg = nb101.graph(nb101.arch_ids.index("NB101-Net1"))
    assert cg.op.tolist() == EXPECTED_OP
    assert cg.shape.tolist() == [list(row[2]) for row in STEM]
    assert [tuple(a) for a in cg.attr.tolist()] == EXPECTED_ATTR
    assert [tuple(e) for e in cg.edges.tolist()] == EXPECTED_EDGES
    # GENNAPE's order: weighted nodes (GraphDef 1, 4, 5, 6, 10) first, then the regular ones.
    index = nb101.table.column("gennape_node_index")[1].as_py()
    regular = [k for k in range(len(STEM)) if k not in WEIGHTED_GRAPHDEF]
    assert [index[k] for k in WEIGHTED_GRAPHDEF + regular] == list(range(len(STEM)))


def test_gennape_features_are_kept_exactly(imported):
    hiaml = load_family("gennape_hiaml", progress=False)
    kept = stored_gennape_features(hiaml.table, 0)
    assert kept.weighted_op.tolist() == [OP_ID[n] for n in ("conv", "depthwise", "conv", "conv", "matmul")]
    assert kept.weighted_kernel.tolist() == [[3, 3], [3, 3], [1, 1], [1, 1], [0, 0]]
    assert kept.weighted_bias.tolist() == [[1, 0]] * 4 + [[0, 1]]
    assert kept.regular_op[0] == OP_ID["input"] and kept.regular_op[-1] == OP_ID["output"]
    assert kept.regular_shape[0].tolist() == [32 / 256] * 4 + [3 / 512] * 2
    assert kept.weighted_shape[-1].tolist() == [1 / 256] * 4 + [32 / 512, 10 / 512]
    assert hiaml.table.column("gennape_norm")[0].as_py() == [256.0, 256.0, 512.0]


@pytest.mark.parametrize("family", FAMILIES)
def test_our_gennape_features_equal_gennapes_up_to_the_node_permutation(imported, family):
    loaded = load_family(family, progress=False)
    for row in range(len(loaded)):
        cg = loaded.graph(row)
        ours, kept = gennape_features(cg), stored_gennape_features(loaded.table, row)
        to_gennape = np.array(loaded.table.column("gennape_node_index")[row].as_py())
        weighted, regular = np.flatnonzero(cg.weighted), np.flatnonzero(~cg.weighted)
        n_weighted = len(kept.weighted_op)
        w, r = to_gennape[weighted], to_gennape[regular] - n_weighted
        assert ours.weighted_op.tolist() == kept.weighted_op[w].tolist()
        assert ours.regular_op.tolist() == kept.regular_op[r].tolist()
        assert np.array_equal(ours.weighted_shape, kept.weighted_shape[w].astype(np.float32))
        assert np.array_equal(ours.regular_shape, kept.regular_shape[r].astype(np.float32))
        assert ours.weighted_kernel.tolist() == kept.weighted_kernel[w].tolist()
        assert ours.weighted_bias.tolist() == kept.weighted_bias[w].tolist()
        ours_nodes = np.concatenate([weighted, regular])
        assert sorted(map(tuple, to_gennape[ours_nodes[ours.edges]].tolist())) == sorted(map(tuple, kept.edges.tolist()))


def test_ofa_cache_is_split_by_cg_name(imported):
    pn, mbv3 = load_family("gennape_ofa_pn", progress=False), load_family("gennape_ofa_mbv3", progress=False)
    assert pn.arch_ids == ["OFA-PN-Net0", "OFA-PN-Net2"] and mbv3.arch_ids == ["OFA-MBV3-Net1"]
    assert pn.labels() == pytest.approx([0.75, 0.77])
    assert json.loads(mbv3.table.column("config")[0].as_py()) == [224, [["mbconv3_e4_k5"] * 2, ["mbconv3_e4_k5"]]]
    cg = pn.graph(0)
    assert cg.shape[0].tolist() == [224, 224, 224, 224, 3, 3]
    assert OP_ID["relu6"] in cg.op and OP_ID["relu"] not in cg.op


def test_original_configs_and_gennape_numbers(imported):
    nb101 = load_family("gennape_nb101", progress=False)
    row = nb101.arch_ids.index("NB101-Net2")
    ops, adjacency = json.loads(nb101.table.column("config")[row].as_py())
    assert ops[1] == "conv3x3-bn-relu" and adjacency[0] == [0, 1, 1, 1]
    assert nb101.labels()[row] == pytest.approx(0.92)
    assert nb101.table.column("gennape_flops")[row].as_py() == 14.5
    assert nb101.table.column("gennape_n_params")[row].as_py() == 3.25
    # GENNAPE's FLOPs unit is undocumented, so cgbench's own count is marked unknown.
    assert set(nb101.table.column("flops").to_pylist()) == {-1}
    genotype = json.loads(load_family("gennape_nb301", progress=False).table.column("config")[0].as_py())
    assert genotype["normal"][0] == ["sep_conv_3x3", 0] and genotype["normal_concat"] == [2, 3, 4, 5]
    manifest = nb101.manifest
    assert manifest["labels"]["acc"]["unit"] == "fraction" and "MIT" in manifest["labels"]["acc"]["licence"]


def test_cli_import(cgbench_home, cg_data_zip, capsys):
    main(["import", "gennape", str(cg_data_zip)])
    assert capsys.readouterr().out.split() == [w for f in FAMILIES for w in ("imported", f)]


class _Shell:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def _hostile_cache(gennape, kind: str) -> bytes:
    if kind == "reduce":
        return pickle.dumps([{"compute graph": _Shell()}], protocol=4)
    if kind == "global":
        return pickle.dumps(os.system, protocol=4)
    # Deep inside an otherwise valid CG: a node's metadata.
    cg = gennape.cg.ComputeGraph(state_dict(STEM, "NB101-Net0"))
    cg.weighted_nodes[0].metadata = {"use_bias": _Shell()}
    return pickle.dumps([{"compute graph": cg, "acc": 0.9}], protocol=4)


@pytest.mark.parametrize("kind", ["reduce", "global", "nested"])
def test_hostile_pickle_is_refused_and_nothing_is_written(tmp_path, monkeypatch, gennape_module, kind):
    home = tmp_path / "home"
    monkeypatch.setenv("CGBENCH_HOME", str(home))
    path = write_zip(tmp_path / "CG_data.zip", {
        "data/gpi_test_hiaml_cifar10_labelled_cg_data.json": hiaml_json(),
        "cache/gpi_nb101_comp_graph_cache.pkl": _hostile_cache(gennape_module, kind),
    })
    with pytest.raises(UnsafePickleError, match="posix.system"):
        import_families("gennape", path, progress=False)
    assert not home.exists()


def test_truncated_zip_gives_a_clear_error(tmp_path):
    whole = io.BytesIO()
    with zipfile.ZipFile(whole, "w") as zf:
        zf.writestr("data/gpi_test_hiaml_cifar10_labelled_cg_data.json", hiaml_json())
    path = tmp_path / "CG_data.zip"
    path.write_bytes(whole.getvalue()[: len(whole.getvalue()) // 2])
    with pytest.raises(ValueError, match="not a readable zip archive"):
        import_families("gennape", path, progress=False)


def test_a_zip_without_gennape_files_is_refused(tmp_path):
    path = write_zip(tmp_path / "other.zip", {"README.md": b"nothing here"})
    with pytest.raises(ValueError, match="holds none of GENNAPE's CG files"):
        import_families("gennape", path, progress=False)


def test_a_weighted_node_that_is_not_a_layer_is_refused(tmp_path):
    broken = state_dict(STEM, "HiAMLNet0")
    broken["weighted_nodes"][0]["op_type_idx"] = OP_ID["relu"]
    data = json.dumps({"0": {"net_config": {}, "max_perf": 90.0, "perfs": [], "cg": broken}}).encode()
    path = write_zip(tmp_path / "CG_data.zip", {"data/gpi_test_hiaml_cifar10_labelled_cg_data.json": data})
    with pytest.raises(ValueError, match=re.escape("weighted node '1|net/conv2d' has op id 6")):
        import_families("gennape", path, progress=False)


def test_a_cyclic_cg_is_refused(tmp_path):
    broken = state_dict(STEM, "HiAMLNet0")
    broken["edge_pairs"].append((broken["edge_pairs"][-1][1], broken["edge_pairs"][0][0]))
    data = json.dumps({"0": {"net_config": {}, "max_perf": 90.0, "perfs": [], "cg": broken}}).encode()
    path = write_zip(tmp_path / "CG_data.zip", {"data/gpi_test_hiaml_cifar10_labelled_cg_data.json": data})
    with pytest.raises(ValueError, match="cycle"):
        import_families("gennape", path, progress=False)
