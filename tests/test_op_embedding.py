import numpy as np
import pytest
import torch

import baselines.gennape  # noqa: F401  (registers gennape)
import baselines.simple  # noqa: F401  (registers gin)
from baselines.op_embedding import OpEmbedding
from baselines.op_groups import GROUP_ID, GROUP_OPS, OP_GROUP
from baselines.predictor import TrainingSet
from baselines.predictors import make_predictor
from cgbench.dataset import load_family
from cgbench.graph.features import NODE_FEATURE_NAMES
from cgbench.graph.vocab import OPS, op_id

pytestmark = pytest.mark.usefixtures("one_thread")

AVGPOOL, MAXPOOL = op_id("avgpool"), op_id("maxpool")
POOL_TOKEN = len(OPS) + GROUP_ID["pool"]


def test_every_op_has_one_group():
    assert (OP_GROUP >= 0).all() and len(OP_GROUP) == len(OPS)
    assert sum(len(ops) for ops in GROUP_OPS.values()) == len(OPS)
    assert OP_GROUP[AVGPOOL] == OP_GROUP[MAXPOOL] == GROUP_ID["pool"]
    assert OP_GROUP[op_id("depthwise")] == OP_GROUP[op_id("conv")]


def test_a_newly_seen_op_starts_from_its_groups_row_and_untrained_rows_are_zero():
    embedding = OpEmbedding(4)
    assert torch.count_nonzero(embedding.tokens.weight) == 0  # nothing random anywhere
    with torch.no_grad():
        embedding.tokens.weight[POOL_TOKEN] = 1.0
    embedding.mark_seen(torch.tensor([MAXPOOL]))
    torch.testing.assert_close(embedding.tokens.weight[MAXPOOL], torch.ones(4))
    embedding.eval()
    assert embedding.token_ids(torch.tensor([MAXPOOL, AVGPOOL])).tolist() == [MAXPOOL, POOL_TOKEN]
    with pytest.raises(ValueError, match="node features"):
        embedding(torch.tensor([MAXPOOL]))


def _window(kernel: int, stride: int) -> torch.Tensor:
    x = torch.zeros(1, len(NODE_FEATURE_NAMES))
    x[0, NODE_FEATURE_NAMES.index("kernel_h")] = kernel
    x[0, NODE_FEATURE_NAMES.index("stride_h")] = stride
    return x


@pytest.fixture(scope="module")
def nb101(cgbench_home):
    return load_family("nb101", progress=False)


def test_avgpool_unseen_in_nb101_gets_the_trained_pool_representation(nb101, one_thread):
    """NB-101 has maxpool but no avgpool: after training on it, an avgpool node is the trained pool
    token plus the trained kernel-3 and stride-1 rows, not an untrained row."""
    predictor = make_predictor("gin", device="cpu", epochs=3)
    predictor.fit([TrainingSet(nb101, np.arange(len(nb101)), nb101.default_target)], seed=0)
    embedding = predictor._model.op.eval()
    assert embedding.seen[MAXPOOL] and not embedding.seen[AVGPOOL]
    assert embedding.token_ids(torch.tensor([AVGPOOL])).item() == POOL_TOKEN
    weights = embedding.tokens.weight.detach()
    assert torch.count_nonzero(weights[AVGPOOL]) == 0  # its own row was never used, so never trained
    pool, kernel3, stride1 = weights[POOL_TOKEN], embedding.kernel.weight[3].detach(), embedding.stride.weight[1].detach()
    # Each factor started at zero and was trained (through maxpool 3x3/1 nodes backed off to "pool").
    assert all(torch.count_nonzero(factor) > 0 for factor in (pool, kernel3, stride1))
    with torch.no_grad():
        torch.testing.assert_close(embedding(torch.tensor([AVGPOOL]), _window(3, 1))[0], pool + kernel3 + stride1)
    # A group that no NB-101 op belongs to keeps its zero row.
    assert torch.count_nonzero(weights[len(OPS) + GROUP_ID["product"]]) == 0


def test_gennape_encoder_backs_off_unseen_ops_too(nb101, one_thread):
    predictor = make_predictor("gennape_notf", device="cpu", pretrain_epochs=1, epochs=1)
    predictor.fit([TrainingSet(nb101, np.arange(128), nb101.default_target)], seed=0)
    regular = predictor._encoder.embed.regular_op.eval()
    assert not regular.seen[AVGPOOL] and regular.token_ids(torch.tensor([AVGPOOL])).item() == POOL_TOKEN
    assert torch.count_nonzero(regular.tokens.weight[POOL_TOKEN]) > 0
