"""NAS-Bench-301: the DARTS network NB-301 trained, canonical ids, and the result-file importer."""

import json

import numpy as np
import pytest
import torch

from cgbench import load_family
from cgbench.cli import main
from cgbench.dataset import FamilyNotBuiltError
from cgbench.dataset import import_families
from cgbench.families.nb301 import (OPS, SPACE, NB301Network, arch_string, genotype_from_config, make_genotype,
                                    parse_arch_string)
from cgbench.graph import count_params

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
        assert genotype_from_config(nb301_config(genotype), "test") == genotype


def test_load_before_import_names_the_command(tmp_path, monkeypatch):
    monkeypatch.setenv("CGBENCH_HOME", str(tmp_path))
    with pytest.raises(FamilyNotBuiltError, match="cgbench import nb301 DIR"):
        load_family("nb301", progress=False)


def test_import_result_files_then_load(cgbench_home, tmp_path):
    genotypes = SPACE.sample_unique(4, seed=11)
    for i, genotype in enumerate(genotypes):
        write(tmp_path / ["rs", "re", "tpe", "de"][i] / f"results_{i}.json", result_record(genotype, 90.0 + i, 89.5 + i))
    # A second training run (another seed) of the first genotype.
    write(tmp_path / "rs" / "results_9.json", result_record(genotypes[0], 91.0, 90.5))

    main(["import", "nb301", str(tmp_path)])
    family = load_family("nb301", progress=False)
    assert len(family) == 4
    assert family.default_target == "c10_val_acc_100ep"
    frame = family.to_pandas().set_index("arch_id")
    first = frame.loc[SPACE.arch_id(genotypes[0])]
    assert first["n_runs"] == 2
    assert first["c10_val_acc_100ep"] == pytest.approx(90.5)
    assert first["c10_test_acc_100ep"] == pytest.approx(90.0)
    assert frame.loc[SPACE.arch_id(genotypes[3]), "c10_val_acc_100ep"] == pytest.approx(93.0)
    for i, arch_id in enumerate(family.arch_ids):
        assert family.graph(i) == SPACE.composed(SPACE.parse(arch_id)).graph
    for meta in family.manifest["labels"].values():
        assert meta["source_id"] == "nas-bench-301 (user-supplied)" and meta["licence"] == "Apache-2.0"
        assert meta["epochs"] == 100
    dataset = family.to_pyg()
    assert len(dataset) == 4
    assert float(dataset[0].y) == pytest.approx(family.labels()[0])


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
