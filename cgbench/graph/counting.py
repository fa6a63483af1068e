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
    """FLOPs of one forward pass of ``model`` on an input of ``input_shape`` (torch's counter, 2 per multiply-add)."""
    tensors = [*model.parameters(), *model.buffers()]
    device = "meta" if tensors and all(t.is_meta for t in tensors) else "cpu"
    was_training = model.training
    # FlopCounterMode's module tracker hooks the autograd graph of every module input that
    # requires grad; a parameter passed to a submodule through a view (CaiT's and PiT's class
    # token, an attention pool's latent query: ``self.latent.expand(B, -1, -1)``) requires grad
    # but has no grad_fn under no_grad, and the hook asserts. Counting needs no gradients.
    grad_params = [p for p in model.parameters() if p.requires_grad]
    model.eval()
    try:
        for p in grad_params:
            p.requires_grad_(False)
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(torch.zeros(*input_shape, device=device))
    finally:
        for p in grad_params:
            p.requires_grad_(True)
        model.train(was_training)
    return int(counter.get_total_flops())


def count_params(model: nn.Module) -> int:
    """The number of parameters of ``model`` (every parameter tensor's elements)."""
    return sum(p.numel() for p in model.parameters())
