"""Batches of CIFAR images made on the training device: no worker processes, no host-to-device copies.

CIFAR-10 is 150 MB as uint8, so the whole set lives on the device once and every batch is cut from
it there. Choices and why:

- Shuffling: each epoch is a ``torch.randperm`` drawn from a generator on the device seeded with
  ``(seed, epoch)``, so epoch ``e`` gives the same batches whether training ran straight through or
  resumed at ``e`` from a checkpoint (no generator state to save), and different seeds differ.
- Crop + flip in one gather: the batch is zero-padded by 4 once (torchvision's ``RandomCrop(32,
  padding=4)`` pads with 0 too), each image draws a row and a column offset in 0..8 and a flip bit,
  and one advanced-indexing read takes rows ``oy + 0..31`` and columns ``ox + 0..31`` (reversed where
  the flip bit is set, chosen by ``torch.where``). That is a 32x32 window of the padded image, mirrored
  or not, for the whole batch at once with no Python loop over images.
- Normalisation with NB-201's CIFAR-10 mean and std (the recipe follows NB-201) in float32; mixed
  precision is left to autocast in the training loop. ``channels_last`` optionally (faster
  convolutions on tensor-core GPUs).
- Training batches drop the last incomplete batch (every step has the recipe's batch size, as
  NB-201's and most CIFAR schedules); evaluation batches (``shuffle=False, drop_last=False``) cover
  every image once in order.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F

CIFAR10_MEAN = tuple(v / 255 for v in (125.3, 123.0, 113.9))
CIFAR10_STD = tuple(v / 255 for v in (63.0, 62.1, 66.7))
PAD = 4
CROP = 32
AUGMENTATIONS = ("crop_flip", "none")
# Separates the epoch from the seed in the per-epoch generator seed: both below 2**31, so the
# combined seed is unique and fits the generator's 64 bits.
_EPOCH_STRIDE = 2**31


class GpuBatches:
    """Iterate ``(x, y)`` batches of one epoch; each ``iter()`` is the next epoch (see :meth:`set_epoch`)."""

    def __init__(self, images_uint8: torch.Tensor, labels: torch.Tensor, batch_size: int, augmentation: str,
                 device: str | torch.device, seed: int, channels_last: bool = False, *,
                 shuffle: bool = True, drop_last: bool = True) -> None:
        if images_uint8.dtype != torch.uint8 or images_uint8.ndim != 4 or images_uint8.shape[1] != 3:
            raise ValueError(f"images must be uint8 (N, 3, H, W), got {images_uint8.dtype} {tuple(images_uint8.shape)}")
        if labels.shape != (len(images_uint8),):
            raise ValueError(f"labels must have shape ({len(images_uint8)},), got {tuple(labels.shape)}")
        if augmentation not in AUGMENTATIONS:
            raise ValueError(f"augmentation must be one of {AUGMENTATIONS}, got {augmentation!r}")
        if augmentation == "crop_flip" and tuple(images_uint8.shape[2:]) != (CROP, CROP):
            raise ValueError(f"crop_flip expects {CROP}x{CROP} images, got {tuple(images_uint8.shape[2:])}")
        if not 0 <= seed < _EPOCH_STRIDE:
            raise ValueError(f"seed must be in 0..{_EPOCH_STRIDE - 1}, got {seed}")
        if not 1 <= batch_size:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if drop_last and batch_size > len(images_uint8):
            raise ValueError(f"batch_size {batch_size} exceeds the {len(images_uint8)} images, so dropping the "
                             f"incomplete last batch would leave no batch at all")
        self.device = torch.device(device)
        self.images = images_uint8.to(self.device)
        self.labels = labels.to(self.device)
        self.batch_size = batch_size
        self.augmentation = augmentation
        self.seed = seed
        self.channels_last = channels_last
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.next_epoch = 0
        self._mean = torch.tensor(CIFAR10_MEAN, device=self.device).view(1, 3, 1, 1)
        self._std = torch.tensor(CIFAR10_STD, device=self.device).view(1, 3, 1, 1)
        self._window = torch.arange(CROP, device=self.device)

    def __len__(self) -> int:
        n = len(self.images)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Make the next ``iter()`` produce epoch ``epoch`` (used when resuming)."""
        self.next_epoch = epoch

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        epoch = self.next_epoch
        self.next_epoch += 1
        return self._epoch(epoch)

    def _epoch(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        generator = torch.Generator(device=self.device).manual_seed(self.seed * _EPOCH_STRIDE + epoch)
        n = len(self.images)
        order = (torch.randperm(n, device=self.device, generator=generator) if self.shuffle
                 else torch.arange(n, device=self.device))
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            index = order[start:start + self.batch_size]
            images = self.images[index]
            if self.augmentation == "crop_flip":
                images = self.crop_flip(images, generator)
            yield self._normalise(images), self.labels[index]

    def crop_flip(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """A random 32x32 window of each zero-padded image, horizontally mirrored with probability 1/2."""
        batch = len(images)
        padded = F.pad(images, (PAD, PAD, PAD, PAD))
        offsets = torch.randint(0, 2 * PAD + 1, (batch, 2), device=self.device, generator=generator)
        flip = torch.rand(batch, device=self.device, generator=generator) < 0.5
        rows = offsets[:, :1] + self._window  # (B, 32)
        cols = offsets[:, 1:] + self._window
        cols = torch.where(flip[:, None], cols.flip(1), cols)
        image_index = torch.arange(batch, device=self.device)[:, None, None, None]
        channel_index = torch.arange(images.shape[1], device=self.device)[None, :, None, None]
        return padded[image_index, channel_index, rows[:, None, :, None], cols[:, None, None, :]]

    def _normalise(self, images: torch.Tensor) -> torch.Tensor:
        x = (images.float() / 255 - self._mean) / self._std
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x
