"""Every view of a family carries its own metadata: PyG, Hugging Face, Parquet, HDF5, ``cgbench info``."""

import json
import os
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from cgbench.cli import main
from cgbench.graph.features import NODE_FEATURE_NAMES
from cgbench.graph.model import ATTR_FIELDS, SHAPE_FIELDS
from cgbench.graph.vocab import OPS
from cgbench.metadata import CITATION

ROOT = Path(__file__).resolve().parents[1]
TARGET = "c10_valid_acc_200ep"


def test_pyg_view_names_ops_features_and_its_target(nb201):
    dataset = nb201.to_pyg()
    assert dataset.op_names[dataset[0].op[0]] == "input" and tuple(dataset.op_names) == OPS
    assert tuple(dataset.feature_names) == NODE_FEATURE_NAMES and dataset[0].x.shape[1] == len(NODE_FEATURE_NAMES)
    assert dataset.target == TARGET and dataset.target_unit == "%"
    assert dataset.target_info["source_id"] == "naslib-nb201-zen" and dataset.target_info["epochs"] == 200
    assert dataset.num_classes == 1  # a regression target, not 2,217 distinct values counted as classes
    assert "y='c10_valid_acc_200ep' [%]" in repr(dataset)
    summary = dataset.get_summary()  # torch_geometric prints its table with tabulate (a dependency)
    assert summary.num_graphs == len(nb201) and "15625" in str(summary)


def test_collated_batches_carry_y(nb201):
    dataset = nb201.to_pyg()
    rows = np.array([5, 0, 15000])
    batch = dataset.collated(rows).batch()
    assert np.allclose(batch.y.numpy(), nb201.labels()[rows].astype(np.float32))
    assert np.allclose(dataset.collated(rows).batch([2]).y.numpy(), nb201.labels()[[15000]].astype(np.float32))


def test_hf_view_has_description_citation_and_licences(nb201):
    parts = nb201.to_hf("random")
    info = parts["train"].info
    assert "c10_valid_acc_200ep [%]" in info.description and "flops [FLOPs (2 per multiply-add)]" in info.description
    assert "node_shape" in info.description and "h_in, h_out" in info.description
    assert "10.1609/aaai.v37i8.26102" in info.citation
    assert info.license == ("cgbench code and CG encoding Apache-2.0; data: Apache-2.0 (analog-nasbench, naslib-9x, "
                            "naslib-nb201-zen); MIT (help-latency, mini-nb201-12ep)")
    assert info.description.startswith(f"nb201 v{nb201.version} (cgbench-cg-1)") and info.config_name == "random"
    assert set(nb201.to_hf("fewshot50")) == {"train", "test"}  # its valid part is empty by design


def test_parquet_files_carry_units_sources_and_column_docs(nb201):
    schema = pq.read_schema(nb201.files["data"])
    record = json.loads(schema.metadata[b"cgbench"])
    assert (record["family"], record["version"], record["cg_format"]) == ("nb201", nb201.version, "cgbench-cg-1")
    assert record["units"][TARGET] == "%" and record["units"]["params"] == "count"
    assert {s["source_id"] for s in record["sources"]} == {"naslib-nb201-zen", "analog-nasbench", "mini-nb201-12ep",
                                                               "naslib-9x", "help-latency"}
    field = schema.field(TARGET)
    assert field.metadata[b"unit"] == b"%" and b"NASLib" in field.metadata[b"description"]
    assert b"cgbench.graph.OPS" in schema.field("node_op").metadata[b"description"]
    assert nb201.column_docs()["wl_hash"]["unit"] == "hex digest"


def test_hdf5_export_is_self_describing(nb201, tmp_path):
    import h5py

    path = nb201.to_hdf5(tmp_path / "nb201.h5")
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600
    with h5py.File(path, "r") as f:
        assert tuple(f["vocab/op_names"].asstr()[()]) == OPS
        assert tuple(f["graphs/shape"].attrs["columns"]) == SHAPE_FIELDS
        assert tuple(f["graphs/attr"].attrs["columns"]) == ATTR_FIELDS
        assert tuple(f["graphs/edges"].attrs["columns"]) == ("src", "dst")
        assert f[f"columns/{TARGET}"].attrs["unit"] == "%"
        assert f["columns/arch_id"].asstr()[0] == nb201.arch_ids[0]
        for split, parts in nb201.splits.items():
            for part, rows in parts.items():
                assert np.array_equal(f[f"splits/{split}/{part}"][()], rows)
        assert "valid is empty by design" in f["splits/fewshot50"].attrs["description"]
        assert json.loads(f.attrs["cgbench"])["units"]["flops"].startswith("FLOPs")


def test_cgbench_info_says_where_the_files_are(nb201, capsys):
    main(["info", "nb201"])
    out = capsys.readouterr().out
    assert f"files ({nb201.folder})" in out
    assert "data.parquet" in out and "splits.parquet" in out and "manifest.json" in out and " MB" in out
    assert "raw: " in out and "mini-bench-arch-cell-accs.pd" in out


def test_citation_file_matches_the_citation_every_view_carries():
    cff = (ROOT / "CITATION.cff").read_text()
    assert 'doi: "10.1609/aaai.v37i8.26102"' in cff and "10.1609/aaai.v37i8.26102" in CITATION
    assert "GENNAPE: Towards Generalized Neural Architecture Performance Estimators" in cff
    assert "Towards Generalized Neural Architecture Performance Estimators" in CITATION
    for family_name in ("Mills", "Han", "Zhang", "Chudak", "Safari Mamaghani", "Salameh", "Lu", "Jui", "Niu"):
        assert f"family-names: {family_name}" in cff and family_name in CITATION
