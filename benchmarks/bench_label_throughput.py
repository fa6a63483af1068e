"""Training throughput (images/s) of labeling's fast path next to the obvious plain PyTorch loop.

Both loops train the same network (same sampled architecture, same initial weights) with the same
recipe settings (SGD Nesterov, per-step cosine, weight decay, batch size, precision, memory format)
on the same images (synthetic CIFAR-shaped ones unless ``--data-root`` points at CIFAR-10):

- fast: :class:`labeling.gpu_loader.GpuBatches` (data resident on the device, batched crop + flip
  by one gather, seeded permutation) and :func:`labeling.train.train_epoch` (loss and accuracy summed
  on the device, no host sync per step);
- plain: ``torch.utils.data.DataLoader`` over a Dataset of PIL images with torchvision's
  ``RandomCrop(32, padding=4)``, ``RandomHorizontalFlip``, ``ToTensor``, ``Normalize``, ``--workers``
  worker processes (pinned memory on CUDA), and the usual ``loss.item()`` per step for logging.

Each loop runs one untimed warm-up epoch (allocator, cuDNN autotuning, ``--compile``), then
``--epochs`` timed epochs of ``--steps`` steps. With ``--device cuda`` it also prints MFU: achieved
FLOP/s (images/s x 3 x the forward FLOPs per image from ``cgbench.graph.count_flops``, backward
counted as twice the forward) over the GPU's dense bf16 peak (``--peak-tflops``, by default from the
GPU's name).

    .venv/bin/python benchmarks/bench_label_throughput.py                      # CPU, ~2-3 min
    .venv/bin/python benchmarks/bench_label_throughput.py --device cuda --compile --n-archs 3
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn as nn
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from cgbench.families import family_spec
from cgbench.graph import count_flops
from labeling.cifar10 import ImageSet, load_cifar10, synthetic_cifar10
from labeling.gpu_loader import CIFAR10_MEAN, CIFAR10_STD, GpuBatches
from labeling.recipe import Recipe, get_recipe
from labeling.train import CosineSchedule, autocast_for, make_optimizer, train_epoch

# Dense (no sparsity) bf16 tensor-core peaks in TFLOP/s, from NVIDIA's data sheets.
BF16_PEAK_TFLOPS = (("H200", 989.0), ("H100 PCIe", 756.0), ("H100", 989.0), ("A100", 312.0))


class TransformsDataset(Dataset):
    """CIFAR images as PIL images through torchvision transforms, the way most CIFAR scripts load them."""

    def __init__(self, images: ImageSet) -> None:
        self.images = images.images.permute(0, 2, 3, 1).numpy()  # (N, 32, 32, 3), as PIL wants
        self.labels = images.labels.numpy()
        self.transform = transforms.Compose([
            transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(), transforms.ToTensor(),
            transforms.Normalize(CIFAR10_MEAN, CIFAR10_STD),
        ])

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        return self.transform(Image.fromarray(self.images[index])), int(self.labels[index])


@dataclass
class Timing:
    images: int
    seconds: float

    @property
    def images_per_second(self) -> float:
        return self.images / self.seconds


def build(family: str, arch_id: str, seed: int, device: torch.device, channels_last: bool) -> nn.Module:
    space = family_spec(family).space
    torch.manual_seed(seed)
    model = space.build(space.parse(arch_id)).to(device)
    return model.to(memory_format=torch.channels_last) if channels_last else model


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_fast(model, images: ImageSet, recipe: Recipe, args, device, channels_last) -> Timing:
    batches = GpuBatches(images.images, images.labels, recipe.batch_size, recipe.augmentation, device, args.seed,
                         channels_last)
    network = torch.compile(model) if args.compile else model
    optimizer = make_optimizer(model, recipe)
    schedule = CosineSchedule(recipe, steps_per_epoch=len(batches))
    criterion = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)
    autocast = autocast_for(recipe, device)
    step = 0
    for epoch in range(1 + args.epochs):
        if epoch == 1:
            synchronise(device)
            start = time.perf_counter()
        _, _, step = train_epoch(network, batches, optimizer, schedule, criterion, autocast, step)
    synchronise(device)
    return Timing(args.epochs * len(batches) * recipe.batch_size, time.perf_counter() - start)


def run_plain(model, images: ImageSet, recipe: Recipe, args, device, channels_last) -> Timing:
    loader = DataLoader(TransformsDataset(images), batch_size=recipe.batch_size, shuffle=True, drop_last=True,
                        num_workers=args.workers, pin_memory=device.type == "cuda",
                        persistent_workers=args.workers > 0)
    network = torch.compile(model) if args.compile else model
    optimizer = make_optimizer(model, recipe)
    schedule = CosineSchedule(recipe, steps_per_epoch=len(loader))
    criterion = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)
    autocast = autocast_for(recipe, device)
    network.train()
    step = 0
    for epoch in range(1 + args.epochs):
        if epoch == 1:
            synchronise(device)
            start = time.perf_counter()
        running_loss = 0.0
        for x, y in loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            for group in optimizer.param_groups:
                group["lr"] = schedule.lr(step)
            with autocast():
                loss = criterion(network(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            running_loss += loss.item()
            step += 1
    synchronise(device)
    return Timing(args.epochs * len(loader) * recipe.batch_size, time.perf_counter() - start)


def default_peak_tflops(device: torch.device) -> float | None:
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in BF16_PEAK_TFLOPS if key in name), None)


def training_images(args, recipe: Recipe) -> ImageSet:
    n = args.steps * recipe.batch_size
    if args.data_root:
        train = load_cifar10(args.data_root).train
        if n > len(train):
            raise SystemExit(f"--steps x batch size = {n} exceeds the {len(train)} CIFAR-10 training images")
        return train.first(n)
    return synthetic_cifar10(n_train=n, n_test=1, seed=args.seed)[0]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--family", default="hiaml,two_path", help="comma-separated families with a search space")
    parser.add_argument("--n-archs", type=int, default=1, help="architectures sampled per family")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--recipe", default="short12", help="registered recipe whose settings both loops use")
    parser.add_argument("--batch-size", type=int, help="override the recipe's (default: 32 on CPU, recipe's on CUDA)")
    parser.add_argument("--precision", choices=("bf16", "fp32"), help="override (default: fp32 on CPU, recipe's on CUDA)")
    parser.add_argument("--steps", type=int, help="steps per epoch (default: 12 on CPU, 195 = one CIFAR epoch on CUDA)")
    parser.add_argument("--epochs", type=int, default=1, help="timed epochs after one warm-up epoch")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader worker processes of the plain loop")
    parser.add_argument("--compile", action="store_true", help="torch.compile the network in both loops")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--peak-tflops", type=float, help="bf16 peak for MFU (default from the GPU name)")
    parser.add_argument("--data-root", help="use the first images of CIFAR-10 here instead of synthetic ones")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    on_cuda = device.type == "cuda"
    channels_last = on_cuda
    base = get_recipe(args.recipe)
    recipe = replace(base, batch_size=args.batch_size or (base.batch_size if on_cuda else 32),
                     precision=args.precision or (base.precision if on_cuda else "fp32"))
    args.steps = args.steps or (195 if on_cuda else 12)
    images = training_images(args, recipe)
    peak = (args.peak_tflops or default_peak_tflops(device)) if on_cuda else None
    print(f"device {torch.cuda.get_device_name(device) if on_cuda else 'cpu'} | torch {torch.__version__} | "
          f"recipe {recipe.name} batch {recipe.batch_size} {recipe.precision} | channels_last {channels_last} | "
          f"compile {args.compile} | {args.steps} steps x {args.epochs} timed epoch(s) | plain workers {args.workers} "
          f"| threads {args.threads}" + (f" | bf16 peak {peak} TFLOP/s" if on_cuda else ""))
    header = f"{'family':<10} {'arch':<44} {'GFLOP/img':>9} {'fast img/s':>11} {'plain img/s':>12} {'fast/plain':>10}"
    print(header + (f" {'MFU fast':>9} {'MFU plain':>9}" if on_cuda else ""))
    ratios = []
    for family in args.family.split(","):
        space = family_spec(family).space
        for config in space.sample_unique(args.n_archs, args.seed):
            arch_id = space.arch_id(config)
            flops = 3 * count_flops(space.build(config), (1, 3, 32, 32))
            fast = run_fast(build(family, arch_id, args.seed, device, channels_last), images, recipe, args, device,
                            channels_last)
            plain = run_plain(build(family, arch_id, args.seed, device, channels_last), images, recipe, args, device,
                              channels_last)
            ratio = fast.images_per_second / plain.images_per_second
            ratios.append(ratio)
            shown = arch_id if len(arch_id) <= 44 else arch_id[:41] + "..."
            line = (f"{family:<10} {shown:<44} {flops / 1e9:>9.3f} {fast.images_per_second:>11.1f} "
                    f"{plain.images_per_second:>12.1f} {ratio:>10.2f}")
            if on_cuda:
                line += " " + " ".join(f"{_mfu(t, flops, peak):>9}" for t in (fast, plain))
            print(line, flush=True)
    print(f"geometric mean fast/plain: {float(np.exp(np.mean(np.log(ratios)))):.2f}")


def _mfu(timing: Timing, flops_per_image: int, peak_tflops: float | None) -> str:
    if peak_tflops is None:
        return "n/a"
    return f"{100 * timing.images_per_second * flops_per_image / (peak_tflops * 1e12):.1f}%"


if __name__ == "__main__":
    main()
