"""FLOPs and parameter counts from torch's own counter, never from hand-written formulas.

FLOPs follow ``torch.utils.flop_counter.FlopCounterMode``: a multiply-add counts as two FLOPs,
and only the ops it knows (convolutions, matrix products, attention) are counted. Published
NAS-Bench numbers called "FLOPs" are usually multiply-adds, that is half of this count.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode


def count_flops(model: nn.Module, input_shape: Sequence[int]) -> int:
    tensors = [*model.parameters(), *model.buffers()]
    device = "meta" if tensors and all(t.is_meta for t in tensors) else "cpu"
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(torch.zeros(*input_shape, device=device))
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
