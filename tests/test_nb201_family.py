import json
import zipfile

import numpy as np
import pytest
import torch

from cgbench import list_families, load_family
from cgbench.cli import main
from cgbench.formats.naslib import parse_arch
from cgbench.families.nb201 import arch_string, check_help_index, from_naslib_tuple
from cgbench.formats.torch_file import load_torch_file
from cgbench.metrics import spearman
from conftest import MIRROR as SHARED_DATA

MIRROR_9X = SHARED_DATA / "naslib-9x" / "9x_all.zip"


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
        for key in ("dataset", "split", "unit", "licence", "seeds", "description"):
            assert meta[key], (name, key)
        if meta["source_id"] in ("naslib-nb201-zen", "analog-nasbench", "mini-nb201-12ep"):
            assert meta["epochs"] and meta["higher_is_better"], name
        # Only the cross-task labels cover a subset of the cells (NASLib trained 199 of them).
        assert np.isnan(nb201.labels(name)).any() == (meta["source_id"] == "naslib-9x"), name


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
    latency = next(line for line in out.splitlines() if line.split()[0] == "lat_titanxp_bs256_ms")
    assert "NVIDIA Titan Xp (GPU), batch 256, lower is better, source help-latency (MIT)" in latency
    assert "source naslib-9x" in next(line for line in out.splitlines() if line.split()[0] == "svhn_val_acc")
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


# ---------------------------------------------------------------------------------------------
# HELP's latencies and NAS-Bench-Suite's cross-task labels

HELP = SHARED_DATA / "help-latency" / "nasbench201"


def test_helps_index_map_agrees_with_nb201_index_for_every_cell(nb201):
    mapping = load_torch_file(HELP / "str_arch2idx.pt")
    index = nb201.table.column("nb201_index").to_pylist()
    assert len(mapping) == 15625
    assert all(mapping[arch_id] == i for arch_id, i in zip(nb201.arch_ids, index))
    # The build refuses a map that disagrees.
    swapped = list(nb201.arch_ids)
    swapped[0], swapped[1] = swapped[1], swapped[0]
    with pytest.raises(ValueError, match="disagrees with NB-201's official order"):
        check_help_index(HELP / "str_arch2idx.pt", swapped)


def test_hw_nas_bench_devices_carry_hw_nas_benchs_published_values_for_cell_0(nb201):
    # HW-NAS-Bench's README, CIFAR-10, architecture 0 (quoted in SOURCES.md).
    published = {"lat_eyeriss_ms": 3.64562, "lat_fpga_ms": 2.57296, "lat_raspi4_ms": 10.48198, "lat_pixel3_ms": 3.60585}
    assert nb201.table.column("nb201_index")[0].as_py() == 0
    for column, value in published.items():
        assert nb201.labels(column)[0] == pytest.approx(value, abs=5e-6), column
        assert "HW-NAS-Bench" in nb201.manifest["labels"][column]["description"]


def test_latency_columns_say_device_kind_batch_and_direction(nb201):
    latency = {n: m for n, m in nb201.manifest["labels"].items() if n.startswith("lat_")}
    assert len(latency) == 27
    for name, meta in latency.items():
        assert meta["higher_is_better"] is False and meta["unit"].startswith("ms") and meta["device"], name
        assert meta["source_id"] == "help-latency" and meta["licence"] == "MIT"
        assert np.all(nb201.labels(name) > 0)
    assert latency["lat_titanxp_bs256_ms"]["batch_size"] == 256
    assert latency["lat_titanxp_bs256_ms"]["device_kind"] == "GPU"
    assert latency["lat_gold6226_ms"]["device_kind"] == "CPU" and latency["lat_gold6226_ms"]["batch_size"] is None
    assert {latency[f"lat_{d}_ms"]["device_kind"] for d in ("pixel2", "pixel3", "samsungs7")} == {"phone"}
    assert latency["lat_raspi4_ms"]["device_kind"] == "embedded"
    assert latency["lat_eyeriss_ms"]["device_kind"] == latency["lat_fpga_ms"]["device_kind"] == "accelerator"


def test_whole_millisecond_phone_files_are_stored_as_given(nb201):
    for device in ("pixel2", "essentialph1", "samsunga50", "samsungs7"):
        values = nb201.labels(f"lat_{device}_ms")
        meta = nb201.manifest["labels"][f"lat_{device}_ms"]
        assert "whole milliseconds" in meta["unit"]
        assert np.array_equal(values, np.round(values)) and values.min() >= 3
        assert len(np.unique(values)) < 80  # 15,625 cells on a few dozen values: ties
    assert len(np.unique(nb201.labels("lat_pixel3_ms"))) > 15000


def test_latency_follows_flops_as_helps_flops_baseline_says(nb201):
    # HELP's README (Table 3): FLOPs vs latency Spearman 0.950 on Titan RTX batch 256, 0.826 on Gold 6226,
    # 0.765 on Pixel2, 0.846 on Raspi4, 0.437 on Eyeriss, 0.900 on the FPGA (on HELP's test cells, with
    # HELP's FLOPs). Ours (all cells, our FLOPs) are a little higher everywhere; a wrong cell order gives ~0.
    flops = nb201.table.column("flops").to_numpy()
    for column, published in (("lat_titanrtx_bs256_ms", 0.950), ("lat_gold6226_ms", 0.826), ("lat_pixel2_ms", 0.765),
                              ("lat_raspi4_ms", 0.846), ("lat_eyeriss_ms", 0.437), ("lat_fpga_ms", 0.900)):
        assert published - 0.01 < spearman(flops, nb201.labels(column)) < published + 0.12, column


def test_cross_task_cells_map_to_nb201_cells(nb201):
    params = nb201.table.column("params").to_numpy()
    with zipfile.ZipFile(MIRROR_9X) as zf:
        records = json.loads(zf.read("params/benchmark--nasbench201--svhn--0.json"))
    row = {arch_id: i for i, arch_id in enumerate(nb201.arch_ids)}
    for record in records:
        i = row[arch_string(from_naslib_tuple(parse_arch(record["arch"])))]
        # NASLib's SVHN network is NB-201's (10 classes): its parameter count is ours, in millions.
        assert params[i] / 1e6 == pytest.approx(record["params"]["score"], abs=1e-9)
        assert nb201.labels("svhn_val_acc")[i] == pytest.approx(record["val_accuracy"])
    for task in ("svhn", "scifar100", "ninapro"):
        assert (~np.isnan(nb201.labels(f"{task}_val_acc"))).sum() == 199
