"""device_embedding: a held-out device described by its latencies on the k shot architectures."""

import numpy as np
import pytest

from baselines.predictors import make_predictor, predictor_class
from baselines.protocol import Protocol, RunMaker, RunSpec, load_families

EYERISS = "lat_eyeriss_ms"


@pytest.fixture(scope="module")
def maker(cgbench_home):
    protocol = Protocol(families=("nb201",), seeds=(0,), tracks=("device_transfer_k0", "device_transfer_k10"))
    return RunMaker(protocol, load_families(protocol, progress=False))


def spearman(maker: RunMaker, shots: int) -> float:
    made = maker.make(RunSpec("device_embedding", f"device_transfer_k{shots}", "nb201", EYERISS, 0))
    return maker.score(made.run).metrics["spearman"]


def test_it_scores_latency_columns_only(maker):
    nb201 = maker.families["nb201"]
    kind = predictor_class("device_embedding")
    assert kind.cannot_predict(nb201, EYERISS) is None
    assert kind.cannot_predict(nb201, "c10_valid_acc_200ep") == ("it predicts a device's latencies; "
                                                                 "c10_valid_acc_200ep is not one")


def test_ten_shots_describe_the_held_out_device_and_beat_the_typical_device(maker):
    """NB-201's Eyeriss ranks cells unlike the source devices (FLOPs 0.55): ten measured latencies move
    the model from the typical device (measured 0.567) to Eyeriss's own order (0.814, seed 0-4 mean)."""
    without, with_shots = spearman(maker, 0), spearman(maker, 10)
    assert 0.45 < without < 0.65 and with_shots > without + 0.1, (without, with_shots)


def test_the_description_is_read_and_too_few_shots_leave_the_typical_device(maker):
    spec = RunSpec("device_embedding", "device_transfer_k10", "nb201", EYERISS, 0)
    fitted = maker.fit(spec).predictor
    task = maker.problem(spec)
    rows = task.predict_indices[:200]
    typical = fitted.predict(task.family, rows)
    one_shot = type(task.shots)(task.family, task.shots.indices[:1], EYERISS)
    fitted_copy = make_predictor("device_embedding")
    fitted_copy.fit(list(task.train), 0, valid=list(task.valid))
    fitted_copy.fine_tune(one_shot, 0)
    np.testing.assert_array_equal(fitted_copy.predict(task.family, rows), typical)
    fitted_copy.fine_tune(task.shots, 0)
    described = fitted_copy.predict(task.family, rows)
    assert not np.allclose(described, typical)
    # The same seed and shots give the same model (deterministic trees, one thread).
    again = make_predictor("device_embedding")
    again.fit(list(task.train), 0, valid=list(task.valid))
    again.fine_tune(task.shots, 0)
    np.testing.assert_array_equal(again.predict(task.family, rows), described)
    with pytest.raises(RuntimeError, match="call fit first"):
        make_predictor("device_embedding").fine_tune(task.shots, 0)
