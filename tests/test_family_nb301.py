"""NAS-Bench-301: the DARTS network NB-301 trained, canonical ids, and the result-file importer."""

import json

import numpy as np
import pytest
import torch

from cgbench import Evaluator, build_family, load_family
from cgbench.cli import main
from cgbench.dataset import import_families
from cgbench.families.nb301 import (OPS, SPACE, ZC_FILE, NB301Network, arch_string, from_naslib_compact,
                                    imported_runs_path, make_genotype, parse_arch_string, read_zc_nb301)
from cgbench.formats.nb301_results import config_cells, read_imported_runs
from cgbench.graph import count_params
from cgbench.metrics import spearman
from cgbench.sources import fetch

# DARTS' second-order search result (DARTS paper, genotypes.py): its 20-cell, 36-channel CIFAR
# network is published as 3.3M parameters (DARTS' training log prints "param size = 3.349342MB").
DARTS_V2_NORMAL = [("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
                   ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)]
DARTS_V2_REDUCE = [("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
                   ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)]

PREFIX = "NetworkSelectorDatasetInfo:darts:"
# NB-301's fixed hyperparameters (nasbench301/data_generation/configs/config_0.json).
TRAINING_SETUP = {
    "CreateImageDataLoader:batch_size": 96, "ImageAugmentation:augment": "True",
    "ImageAugmentation:autoaugment": "False", "ImageAugmentation:cutout": "True",
    "ImageAugmentation:cutout_holes": 1, "ImageAugmentation:cutout_length": 16,
    "ImageAugmentation:fastautoaugment": "False", "LossModuleSelectorIndices:loss_module": "cross_entropy",
    f"{PREFIX}auxiliary": "True", f"{PREFIX}drop_path_prob": 0.2, f"{PREFIX}init_channels": 32,
    f"{PREFIX}layers": 8, "NetworkSelectorDatasetInfo:network": "darts", "OptimizerSelector:optimizer": "sgd",
    "OptimizerSelector:sgd:learning_rate": 0.025, "OptimizerSelector:sgd:momentum": 0.9,
    "OptimizerSelector:sgd:weight_decay": 0.0003, "SimpleLearningrateSchedulerSelector:cosine_annealing:T_max": 100,
    "SimpleLearningrateSchedulerSelector:cosine_annealing:eta_min": 1e-08,
    "SimpleLearningrateSchedulerSelector:lr_scheduler": "cosine_annealing",
    "SimpleTrainNode:batch_loss_computation_technique": "mixup", "SimpleTrainNode:mixup:alpha": 0.2,
}


def nb301_config(genotype) -> dict:
    """NB-301's ConfigSpace encoding of a genotype, written independently of the importer."""
    config = dict(TRAINING_SETUP)
    for kind, cell in (("normal", genotype.normal), ("reduce", genotype.reduce)):
        first_edge = 0
        for k, node in enumerate(cell):
            inputs = sorted(source for _, source in node)
            for op, source in node:
                config[f"{PREFIX}edge_{kind}_{first_edge + source}"] = op
            if k:
                config[f"{PREFIX}inputs_node_{kind}_{k + 2}"] = f"{inputs[0]}_{inputs[1]}"
            first_edge += k + 2
    return config


def result_record(genotype, val: float, test: float) -> dict:
    return {
        "final_metric_score": -val,
        "optimized_hyperparamater_config": nb301_config(genotype),
        "budget": 100,
        "info": [{"train_loss": 0.7, "train_accuracy": 85.0, "val_accuracy": val, "epochs": 100,
                  "model_parameters": 1_000_000, "train_datapoints": 40000, "val_datapoints": 10000}],
        "test_accuracy": test,
        "runtime": 9000.0,
    }


def write(path, record) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))


def test_forward_pass_gives_logits():
    net = SPACE.build(SPACE.sample(np.random.default_rng(5))).eval()
    with torch.no_grad():
        out = net(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10) and torch.isfinite(out).all()


def test_swapping_a_nodes_two_inputs_keeps_the_arch_id():
    swapped = list(DARTS_V2_NORMAL)
    swapped[6], swapped[7] = swapped[7], swapped[6]
    original = make_genotype(DARTS_V2_NORMAL, DARTS_V2_REDUCE)
    assert arch_string(make_genotype(swapped, DARTS_V2_REDUCE)) == arch_string(original)
    assert parse_arch_string(arch_string(original)) == original
    changed = list(DARTS_V2_NORMAL)
    changed[7] = ("dil_conv_5x5", 2)
    assert arch_string(make_genotype(changed, DARTS_V2_REDUCE)) != arch_string(original)


@pytest.mark.parametrize("edit, reason", [
    ((0, ("none", 0)), "not a NAS-Bench-301 op"),
    ((1, ("sep_conv_3x3", 0)), "twice"),
    ((2, ("sep_conv_3x3", 3)), "cannot take input"),
])
def test_bad_genotypes_are_refused(edit, reason):
    normal = list(DARTS_V2_NORMAL)
    normal[edit[0]] = edit[1]
    with pytest.raises(ValueError, match=reason):
        make_genotype(normal, DARTS_V2_REDUCE)


def test_parse_refuses_incomplete_ids():
    with pytest.raises(ValueError, match="normal=...;reduce="):
        parse_arch_string("normal=sep_conv_3x3~0+sep_conv_3x3~1")
    with pytest.raises(ValueError, match="has 8 .* got 2"):
        parse_arch_string("normal=sep_conv_3x3~0+sep_conv_3x3~1;reduce=sep_conv_3x3~0+sep_conv_3x3~1")


def test_sampler_covers_every_op_and_input_pair():
    samples = [SPACE.sample(np.random.default_rng(seed)) for seed in range(300)]
    ops = {op for g in samples for node in g.normal for op, _ in node}
    last_node_inputs = {tuple(s for _, s in g.reduce[3]) for g in samples}
    assert ops == set(OPS)
    assert len(last_node_inputs) == 10  # every pair of the 5 earlier nodes, as in NB-301's ConfigSpace


def test_darts_v2_parameter_count_matches_published():
    with torch.device("meta"):
        net = NB301Network(make_genotype(DARTS_V2_NORMAL, DARTS_V2_REDUCE), init_channels=36, layers=20)
    assert count_params(net) == 3_349_342


def test_parameter_count_matches_nb301s_own_result_file():
    # nasbench301/surrogate_models/test/results_fidelity_0/results_0.json: 50 channels, 20 cells,
    # trained with DARTS' auxiliary head; NB-301 reports model_parameters = 6,369,358.
    genotype = make_genotype(
        [("skip_connect", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 1),
         ("dil_conv_3x3", 0), ("dil_conv_5x5", 2), ("sep_conv_3x3", 1), ("skip_connect", 2)],
        [("max_pool_3x3", 0), ("avg_pool_3x3", 1), ("skip_connect", 0), ("dil_conv_5x5", 1),
         ("sep_conv_3x3", 1), ("sep_conv_5x5", 2), ("sep_conv_3x3", 2), ("dil_conv_3x3", 3)])
    with torch.device("meta"):
        params = count_params(NB301Network(genotype, init_channels=50, layers=20))
    aux_channels = 4 * 4 * 50  # output of the second reduction cell
    # DARTS' AuxiliaryHeadCIFAR: conv1x1 -> 128, BN, conv2x2 -> 768, BN, linear -> 10
    aux_params = aux_channels * 128 + 2 * 128 + 128 * 768 * 4 + 2 * 768 + 768 * 10 + 10
    assert params + aux_params == 6_369_358


def test_genotype_decoding_round_trips_nb301_configs():
    for genotype in SPACE.sample_unique(20, seed=2):
        assert make_genotype(*config_cells(nb301_config(genotype), "test")) == genotype


@pytest.fixture(scope="module")
def nb301(cgbench_home):
    return load_family("nb301", progress=False)


def test_the_built_in_family_holds_nas_bench_suite_cells_without_user_files(nb301):
    assert len(nb301) == 725 + 199 == len(set(nb301.arch_ids))
    assert nb301.default_target == "c10_val_acc_nb301_surrogate"
    surrogate = nb301.labels("c10_val_acc_nb301_surrogate")
    assert (~np.isnan(surrogate)).sum() == 725 and 91.2 < np.nanmin(surrogate) < np.nanmax(surrogate) < 94.5
    meta = nb301.manifest["labels"]["c10_val_acc_nb301_surrogate"]
    assert "surrogate" in meta["description"] and "not a trained result" in meta["description"]
    assert meta["source_id"] == "naslib-zc-nb301" and "not a training run" in meta["seeds"]
    for task in ("svhn", "scifar100", "ninapro"):
        assert (~np.isnan(nb301.labels(f"{task}_val_acc"))).sum() == 199
    # The trained labels exist as columns, empty until NB-301's files are imported.
    for name in ("c10_val_acc_100ep", "c10_test_acc_100ep", "train_runtime_s"):
        assert np.isnan(nb301.labels(name)).all()
    assert nb301.table.column("n_runs").to_numpy().sum() == 0
    with pytest.raises(ValueError, match="none labelled"):
        Evaluator(nb301, target="c10_val_acc_100ep")
    assert len(Evaluator(nb301).arch_ids) > 50


def test_info_names_the_surrogate_and_the_empty_trained_columns(nb301, capsys):
    main(["info", "nb301"])
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.startswith("    ")}
    surrogate = lines["c10_val_acc_nb301_surrogate"]
    assert "n=   725" in surrogate and "source naslib-zc-nb301" in surrogate
    assert "(no row labelled yet)" in lines["c10_val_acc_100ep"]
    assert "n=   199" in lines["ninapro_val_acc"] and "source naslib-9x" in lines["ninapro_val_acc"]


def test_naslib_compact_encoding_is_input_then_op_index():
    # NASLib's convert_genotype_to_compact of DARTS-V2: (input node, index into OPS) per edge.
    index = {op: i for i, op in enumerate(OPS)}
    compact = tuple(tuple((source, index[op]) for op, source in cell) for cell in (DARTS_V2_NORMAL, DARTS_V2_REDUCE))
    assert from_naslib_compact(compact) == make_genotype(DARTS_V2_NORMAL, DARTS_V2_REDUCE)
    assert compact[0][:2] == ((0, 3), (1, 3)) and OPS[3] == "sep_conv_3x3"
    with pytest.raises(ValueError):
        from_naslib_compact(((0, 9),) * 8)


def test_naslib_cells_map_to_genotypes_whose_size_ranks_like_naslibs(nb301):
    """NASLib's NB-301 network (pools with BN, no affine BN in cells, auxiliary head) is not ours, but its
    parameter count ranks the 725 cells as ours does, only if the (input, op) pairs are read right."""
    records = read_zc_nb301(fetch(ZC_FILE, progress=False))
    params = nb301.table.column("params").to_numpy()
    row = {arch_id: i for i, arch_id in enumerate(nb301.arch_ids)}
    ours = [params[row[arch_id]] for arch_id in records]
    assert spearman(ours, [r.scores["params"] for r in records.values()]) > 0.999
    flops = nb301.table.column("flops").to_numpy()
    assert spearman([flops[row[a]] for a in records], [r.scores["flops"] for r in records.values()]) > 0.99
    assert len(next(iter(records.values())).scores) == 12


def test_import_result_files_then_load(tmp_path, monkeypatch):
    monkeypatch.setenv("CGBENCH_HOME", str(tmp_path / "home"))
    results = tmp_path / "results"
    genotypes = SPACE.sample_unique(4, seed=11)
    for i, genotype in enumerate(genotypes):
        write(results / ["rs", "re", "tpe", "de"][i] / f"results_{i}.json", result_record(genotype, 90.0 + i, 89.5 + i))
    # A second training run (another seed) of the first genotype.
    write(results / "rs" / "results_9.json", result_record(genotypes[0], 91.0, 90.5))

    main(["import", "nb301", str(results)])
    family = load_family("nb301", progress=False)
    assert len(family) == 924 + 4
    assert family.default_target == "c10_val_acc_nb301_surrogate"
    trained = family.labelled_rows("c10_val_acc_100ep")
    assert sorted(family.arch_ids[i] for i in trained) == sorted(SPACE.arch_id(g) for g in genotypes)
    frame = family.to_pandas().set_index("arch_id")
    first = frame.loc[SPACE.arch_id(genotypes[0])]
    assert first["n_runs"] == 2
    assert first["c10_val_acc_100ep"] == pytest.approx(90.5)
    assert first["c10_test_acc_100ep"] == pytest.approx(90.0)
    assert frame.loc[SPACE.arch_id(genotypes[3]), "c10_val_acc_100ep"] == pytest.approx(93.0)
    for i in trained:
        assert family.graph(int(i)) == SPACE.composed(SPACE.parse(family.arch_ids[i])).graph
    for name in ("c10_val_acc_100ep", "c10_test_acc_100ep", "train_runtime_s"):
        meta = family.manifest["labels"][name]
        assert meta["source_id"] == "nas-bench-301 (user-supplied)" and meta["licence"] == "Apache-2.0"
        assert meta["epochs"] == 100
    dataset = family.to_pyg(target="c10_val_acc_100ep")
    assert len(dataset) == 928
    assert float(dataset[int(trained[0])].y) == pytest.approx(family.labels("c10_val_acc_100ep")[trained[0]])
    # The import outlives a rebuild: the runs are kept beside the family, not re-read from the folder.
    assert imported_runs_path().exists()
    build_family("nb301", force=True, progress=False)
    assert len(load_family("nb301", progress=False).labelled_rows("c10_val_acc_100ep")) == 4


def test_a_damaged_import_table_names_the_command(tmp_path, monkeypatch):
    monkeypatch.setenv("CGBENCH_HOME", str(tmp_path))
    imported_runs_path().parent.mkdir(parents=True)
    imported_runs_path().write_bytes(b"not parquet")
    with pytest.raises(ValueError, match="cgbench import nb301 DIR"):
        read_imported_runs(imported_runs_path())


def test_malformed_result_files_are_refused(tmp_path):
    genotype = SPACE.sample(np.random.default_rng(1))
    missing = result_record(genotype, 90.0, 89.0)
    del missing["info"]
    write(tmp_path / "a" / "results_0.json", missing)
    with pytest.raises(ValueError, match=r"results_0\.json: missing key 'info'"):
        import_families("nb301", tmp_path / "a", progress=False)

    unknown_op = result_record(genotype, 90.0, 89.0)
    unknown_op["optimized_hyperparamater_config"][f"{PREFIX}edge_normal_0"] = "none"
    write(tmp_path / "b" / "results_1.json", unknown_op)
    with pytest.raises(ValueError, match=r"results_1\.json: .*edge_normal_0 = 'none' is not a NAS-Bench-301 op"):
        import_families("nb301", tmp_path / "b", progress=False)

    no_inputs = result_record(genotype, 90.0, 89.0)
    del no_inputs["optimized_hyperparamater_config"][f"{PREFIX}inputs_node_reduce_5"]
    write(tmp_path / "c" / "results_2.json", no_inputs)
    with pytest.raises(ValueError, match=r"results_2\.json: missing key '.*inputs_node_reduce_5'"):
        import_families("nb301", tmp_path / "c", progress=False)

    other_fidelity = result_record(genotype, 90.0, 89.0)
    other_fidelity["optimized_hyperparamater_config"][f"{PREFIX}init_channels"] = 50
    write(tmp_path / "d" / "results_3.json", other_fidelity)
    with pytest.raises(ValueError, match=r"results_3\.json: .*init_channels = 50"):
        import_families("nb301", tmp_path / "d", progress=False)
