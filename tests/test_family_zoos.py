import json

import pytest

from cgbench.dataset import load_family, store_family
from cgbench.families import family_spec
from cgbench.families.timm_zoo import RESULTS, TimmZoo, capture_cache_dir
from cgbench.formats.timm_results import read_timm_results
from cgbench.families.torchvision_zoo import TorchvisionZoo
from cgbench.sources import fetch

# Small but varied: a CNN, a fx-untraceable EfficientNet (TF "same" padding), a ViT, two sizes of one tag.
TIMM_SUBSET = ("resnet18", "tf_efficientnet_b0", "vit_tiny_patch16_224", "convnext_atto")
TORCHVISION_SUBSET = ("resnet18", "googlenet", "vit_b_16", "regnet_y_400mf")


@pytest.fixture(scope="module")
def timm_zoo(cgbench_home):
    spec = TimmZoo(architectures=TIMM_SUBSET)
    raw = {RESULTS.key: fetch(RESULTS, progress=False)}
    store_family(spec, *spec.build(raw, progress=False))
    return load_family("timm_zoo", progress=False)


@pytest.fixture(scope="module")
def torchvision_zoo(cgbench_home):
    spec = TorchvisionZoo(builders=TORCHVISION_SUBSET)
    store_family(spec, *spec.build({}, progress=False))
    return load_family("torchvision_zoo", progress=False)


def test_timm_zoo_has_every_row_of_the_subset(timm_zoo):
    results = [r for r in read_timm_results(fetch(RESULTS, progress=False)) if r.architecture in TIMM_SUBSET]
    df = timm_zoo.to_pandas()
    assert sorted(df.arch_id) == sorted(r.row_id for r in results)
    assert timm_zoo.manifest["subset"] == list(TIMM_SUBSET) and timm_zoo.manifest["failures"] == []
    assert set(df.capture_method) == {"fx", "export"}
    assert len(timm_zoo.to_pyg()) == len(df)


def test_timm_params_equal_timm_param_count(timm_zoo):
    df = timm_zoo.to_pandas()
    assert ((df.params / 1e6).round(2) == df.timm_param_count_m).all()
    resnet = df[df.arch_id == "resnet18.a1_in1k@288"].iloc[0]
    assert resnet.params == 11_689_512 and resnet.img_size == 288
    assert resnet.imagenet_top1 == pytest.approx(73.164)


def test_timm_rows_of_one_architecture_and_size_share_a_graph(timm_zoo):
    df = timm_zoo.to_pandas()
    for _, group in df.groupby(["architecture", "img_size"]):
        assert group.wl_hash.nunique() == 1
    sizes = df[df.architecture == "resnet18"].groupby("img_size").wl_hash.first()
    assert sizes.nunique() == len(sizes) > 1


def test_timm_captures_are_cached_per_model(timm_zoo):
    files = {p.name for p in capture_cache_dir("timm").glob("*.npz")}
    assert "resnet18@224.npz" in files and "resnet18@288.npz" in files
    assert json.loads((capture_cache_dir("timm") / "failures.json").read_text()) == []


def test_timm_unknown_subset_is_a_clear_error():
    with pytest.raises(ValueError, match="not_a_model"):
        TimmZoo(architectures=["not_a_model"]).select(read_timm_results(fetch(RESULTS, progress=False)))


def test_torchvision_zoo_matches_torchvision_metadata(torchvision_zoo):
    df = torchvision_zoo.to_pandas()
    assert (df.params == df.torchvision_num_params).all()
    ratio = df.flops / 2 / 1e9 / df.torchvision_gflops
    assert ratio.between(0.99, 1.02).all()
    vit = df[df.arch_id == "ViT_B_16_Weights.IMAGENET1K_SWAG_E2E_V1"].iloc[0]
    assert vit.crop_size == 384 and vit.imagenet_top1 == pytest.approx(85.304)
    assert set(df.builder) == set(TORCHVISION_SUBSET)
    assert len(torchvision_zoo.to_pyg()) == len(df)


def test_zoo_label_columns_name_their_source():
    for name, source, licence in (("timm_zoo", "timm-results", "Apache-2.0"),
                                  ("torchvision_zoo", "torchvision-weights-metadata", "BSD-3-Clause")):
        label = {c.name: c for c in family_spec(name).labels}["imagenet_top1"]
        assert (label.source_id, label.licence, label.dataset, label.epochs) == (source, licence, "ImageNet-1k", None)
