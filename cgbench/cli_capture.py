"""``cgbench capture FILE.py:NAME --input-shape N,C,H,W``: a model of your own as a CG, with a report.

Registered by ``cgbench.cli.build_parser`` through :func:`register`. The model is built under
``torch.device("meta")`` (no weights; on the CPU if its constructor needs real tensors), captured
with ``cgbench.graph.capture`` (torch.fx, then torch.export), and summarised: nodes, edges, op
counts, FLOPs and parameters, unmapped ops, folded ops; ``--draw`` writes a picture.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

EXAMPLE = """example:
  cgbench capture my_models.py:TinyNet --input-shape 1,3,32,32 --draw tinynet.png
  cgbench capture my_models.py:make_net --kwargs '{"width": 64}' --input-shape 1,3,224,224

Exit status 1 when the model cannot be captured: the message says why and what to do (an op
without a CG mapping is mapped with cgbench.graph.register_op; --oov is the lossy last resort)."""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "capture", help="capture a model of your own as a CG and report what became of its ops",
        description="Build a model from a Python file, capture it as a CG (torch.fx, falling back to "
                    "torch.export) and print its summary: size, op counts, FLOPs and parameters, ops "
                    "without a CG mapping, ops folded away.",
        epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="FILE.py:NAME",
                   help="a Python file and the nn.Module class (or function returning a module) in it")
    p.add_argument("--input-shape", required=True, type=_shape, metavar="N,C,H,W",
                   help="the input the model takes, e.g. 1,3,224,224 (batch 1 is enough)")
    p.add_argument("--kwargs", default="{}", type=json.loads, metavar="JSON",
                   help="keyword arguments for NAME, as a JSON object (default: none)")
    p.add_argument("--method", choices=("auto", "fx", "export"), default="auto",
                   help="auto (default): torch.fx, then torch.export when fx cannot trace the model")
    p.add_argument("--oov", action="store_true",
                   help="write ops without a CG mapping as <oov> nodes instead of failing (lossy)")
    p.add_argument("--draw", metavar="OUT.png", help="also draw the CG to this file (.png, .svg or .pdf)")
    p.set_defaults(func=_cmd_capture)


def _shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 1,3,224,224; got {text!r}") from None
    if len(shape) < 2 or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"expected at least (N, C), all positive, such as 1,3,224,224; got {text!r}")
    return shape


def load_model_factory(spec: str):
    """The class or function ``NAME`` of ``FILE.py:NAME``, imported from that file."""
    path_text, _, name = spec.rpartition(":")
    path = Path(path_text)
    if not path_text or not name:
        raise SystemExit(f"cgbench capture: expected FILE.py:NAME, got {spec!r}")
    if not path.is_file():
        raise SystemExit(f"cgbench capture: no file {path}")
    sys.path.insert(0, str(path.resolve().parent))  # the file may import its neighbours
    module_spec = importlib.util.spec_from_file_location(f"_cgbench_capture_{path.stem}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    factory = getattr(module, name, None)
    if factory is None or not callable(factory):
        found = sorted(n for n, v in vars(module).items() if isinstance(v, type) and not n.startswith("_"))
        raise SystemExit(f"cgbench capture: {path} has no class or function {name!r} (classes there: {found})")
    return factory


def build_model(factory, kwargs: dict):
    """The model, built under torch.device('meta') (no weights), or on the CPU if that fails."""
    import torch

    try:
        with torch.device("meta"):
            return factory(**kwargs)
    except (RuntimeError, NotImplementedError):  # a constructor that copies or fills real tensors
        return factory(**kwargs)


def _cmd_capture(args: argparse.Namespace) -> None:
    from .graph import CaptureError, UnknownOpError, capture_report, count_flops, count_params

    model = build_model(load_model_factory(args.model), args.kwargs)
    try:
        report = capture_report(model, args.input_shape, unknown_ops="oov" if args.oov else "error", method=args.method)
    except UnknownOpError as err:
        listed = capture_report(model, args.input_shape, unknown_ops="oov", method=args.method)
        print("\n".join(listed.summary_lines()))
        raise SystemExit(f"cgbench capture: {err}") from None
    except CaptureError as err:
        raise SystemExit(f"cgbench capture: {err}") from None
    print(f"{args.model} at input {args.input_shape}")
    print("\n".join(report.summary_lines()))
    print(f"  FLOPs {count_flops(model, args.input_shape):,} (torch's counter, 2 per multiply-add), "
          f"parameters {count_params(model):,}")
    if args.draw:
        from .graph.draw import draw

        print(f"  drawing: {draw(report.graph, args.draw, title=args.model)}")
