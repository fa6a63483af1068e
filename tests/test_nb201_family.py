import json

import numpy as np
import pytest
import torch

from cgbench import list_families, load_family
from cgbench.cli import main
from cgbench.metrics import spearman


def test_registry_lists_nb201():
    assert "nb201" in list_families()


def test_all_cells_and_official_ids(nb201):
    assert len(nb201) == 15625
    assert len(set(nb201.arch_ids)) == 15625
    assert nb201.table.column("nb201_index").to_pylist() == list(range(15625))
    # Official index 0 in NAS-Bench-201.
    assert nb201.arch_ids[0] == ("|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|"
                                 "skip_connect~1|skip_connect~2|")


def test_every_label_names_its_source_and_meaning(nb201):
    for name, meta in nb201.manifest["labels"].items():
        assert meta["source_id"] in {s["source_id"] for s in nb201.manifest["sources"]}
        for key in ("dataset", "split", "epochs", "unit", "licence", "seeds"):
            assert meta[key], (name, key)
        assert not np.isnan(nb201.labels(name)).any()


def test_two_independent_200_epoch_trainings_agree(nb201):
    rho = spearman(nb201.labels("c10_valid_acc_200ep"), nb201.labels("ibm_c10_baseline_acc_200ep"))
    assert rho == pytest.approx(0.98, abs=0.015)


def test_label_noise_ceiling_within_the_top_decile(nb201):
    from cgbench.metrics import label_agreement

    both = label_agreement(nb201.labels("c10_valid_acc_200ep"), nb201.labels("ibm_c10_baseline_acc_200ep"))
    assert both["n_top"] == 1562
    assert both["kendall"] == pytest.approx(0.888, abs=0.005)
    assert both["spearman_top"] == pytest.approx(0.647, abs=0.005)
    assert both["kendall_top"] == pytest.approx(0.455, abs=0.005)


def test_200_and_12_epoch_labels_agree_less(nb201):
    rho = spearman(nb201.labels("c10_valid_acc_200ep"), nb201.labels("c10_test_acc_12ep"))
    assert rho == pytest.approx(0.90, abs=0.03)


def test_isomorphism_classes_and_cut_off_cells(nb201):
    hashes = nb201.table.column("wl_hash").to_pylist()
    assert len(set(hashes)) == 5425
    zero = nb201.table.column("node_op").to_pylist()
    cut_off = [i for i, ops in enumerate(zero) if 26 in ops]
    assert len(cut_off) == 341
    assert len({hashes[i] for i in cut_off}) == 1
    assert set(nb201.labels()[cut_off]) == {10.0}


def test_splits(nb201):
    random = nb201.get_idx_split("random")
    assert [len(random[p]) for p in ("train", "valid", "test")] == [12500, 1562, 1563]
    assert len(np.intersect1d(random["train"], random["test"])) == 0
    few = nb201.get_idx_split("fewshot50")
    assert len(few["train"]) == 50 and len(few["test"]) == 15575
    dedup = nb201.get_idx_split("dedup")
    hashes = np.array(nb201.table.column("wl_hash").to_pylist())
    train, test = set(hashes[dedup["train"]]), set(hashes[dedup["test"]])
    assert not train & test
    assert sum(len(v) for v in dedup.values()) == len(set(hashes))
    with pytest.raises(KeyError, match="has no split"):
        nb201.get_idx_split("nope")


def test_pyg_view(nb201):
    ds = nb201.to_pyg()
    assert len(ds) == 15625
    g = ds[7]
    cg = nb201.graph(7)
    assert g.num_nodes == cg.n_nodes
    assert torch.equal(g.op, torch.from_numpy(cg.op.astype(np.int64)))
    assert torch.equal(g.edge_index.T, torch.from_numpy(cg.edges.astype(np.int64)))
    assert g.y.item() == pytest.approx(nb201.labels()[7])
    assert g.x.shape == (cg.n_nodes, 11)


def test_pyg_transform_and_pre_transform(nb201):
    def mark(data):
        data.marked = torch.ones(1)
        return data

    assert hasattr(nb201.to_pyg(transform=mark)[0], "marked")
    pre = nb201.to_pyg(target="c10_val_acc_12ep", pre_transform=mark)
    assert hasattr(pre[3], "marked")
    assert pre[3].y.item() == pytest.approx(nb201.labels("c10_val_acc_12ep")[3])
    with pytest.raises(KeyError, match="no label column"):
        nb201.to_pyg(target="accuracy")


def test_hf_and_pandas_views(nb201):
    dd = nb201.to_hf("random")
    assert {k: len(v) for k, v in dd.items()} == {"train": 12500, "valid": 1562, "test": 1563}
    assert "c10_valid_acc_200ep" in dd["train"].column_names
    df = nb201.to_pandas()
    assert len(df) == 15625 and "node_op" not in df.columns and "flops" in df.columns


def test_warm_load_comes_from_cache(nb201):
    again = load_family("nb201")
    assert again.data_sha256 == nb201.data_sha256


def test_cli_commands(nb201, tmp_path, capsys):
    main(["families"])
    assert "nb201" in capsys.readouterr().out
    main(["info", "nb201"])
    out = capsys.readouterr().out
    assert "15625 architectures" in out and "naslib-nb201-zen" in out and "fewshot50" in out
    main(["draw", "nb201", "5", "-o", str(tmp_path / "cell.png")])
    assert (tmp_path / "cell.png").stat().st_size > 1000
    main(["draw", "nb201", "5", "-o", str(tmp_path / "cell-mpl.png"), "--engine", "matplotlib"])
    assert (tmp_path / "cell-mpl.png").stat().st_size > 1000
    main(["export", "nb201", "-o", str(tmp_path / "nb201.h5")])
    assert (tmp_path / "nb201.h5").exists()
    capsys.readouterr()
    idx = nb201.get_idx_split()["test"]
    rows = ["arch_id,y_pred"] + [f"\"{nb201.arch_ids[i]}\",{nb201.labels('c10_test_acc_12ep')[i]}" for i in idx]
    (tmp_path / "pred.csv").write_text("\n".join(rows))
    main(["evaluate", "nb201", str(tmp_path / "pred.csv")])
    result = json.loads(capsys.readouterr().out)
    assert 0.85 < result["spearman"] < 0.95
    (tmp_path / "bad.csv").write_text("\n".join(rows[:-1]))
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", "nb201", str(tmp_path / "bad.csv")])
    assert exit_info.value.code == 2 and "1 arch_id(s) have no prediction" in capsys.readouterr().err
