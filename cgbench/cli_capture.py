"""``cgbench capture FILE.py:NAME --input-shape N,C,H,W``: a model of your own as a CG, with a report.

Registered by ``cgbench.cli.build_parser`` through :func:`add_capture_command`; like every command
it imports torch only when it runs. The model is built under ``torch.device("meta")`` (no
weights; on the CPU if its constructor needs real tensors), captured with
``cgbench.graph.capture_report`` (torch.fx, then torch.export), and summarised: nodes, edges, op
counts, FLOPs and parameters, unmapped ops, folded ops; ``--draw`` writes a picture. A model that
cannot be captured ends in one line that says why and what to do (``cgbench.cli``'s error boundary).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

from .cli_options import examples
from .errors import InvalidInputError, UnknownNameError


def add_capture_command(sub) -> None:
    """Register ``cgbench capture`` on the subparsers ``sub``."""
    p = sub.add_parser(
        "capture", help="capture a model of your own as a CG and report what became of its ops",
        description="Build a model from a Python file, capture it as a CG (torch.fx, falling back to "
                    "torch.export) and print its summary: size, op counts, FLOPs and parameters, ops "
                    "without a CG mapping, ops folded away. An op without a CG mapping stops the capture "
                    "(after listing every such op): map it with cgbench.graph.register_op in the file, or "
                    "pass --oov (lossy).",
        epilog=examples("cgbench capture my_models.py:TinyNet --input-shape 1,3,32,32 --draw tinynet.png",
                        "cgbench capture my_models.py:make_net --kwargs '{\"width\": 64}' --input-shape 1,3,224,224",
                        "cgbench capture my_models.py:WithCustomOp --input-shape 1,3,32,32 --oov"))
    p.add_argument("model", metavar="FILE.py:NAME",
                   help="a Python file and the nn.Module class (or function returning a module) in it")
    p.add_argument("--input-shape", required=True, type=_shape, metavar="N,C,H,W",
                   help="the input the model takes, e.g. 1,3,224,224 (batch 1 is enough)")
    p.add_argument("--kwargs", default={}, type=_json_object, metavar="JSON",
                   help="keyword arguments for NAME, as a JSON object (default: none)")
    p.add_argument("--method", choices=("auto", "fx", "export"), default="auto",
                   help="auto: torch.fx, then torch.export when fx cannot trace the model (default: %(default)s)")
    p.add_argument("--oov", action="store_true",
                   help="write ops without a CG mapping as <oov> nodes instead of failing (lossy)")
    p.add_argument("--draw", metavar="OUT.png", help="also draw the CG to this file (.png, .svg or .pdf)")
    p.set_defaults(func=_cmd_capture)


def _shape(text: str) -> tuple[int, ...]:
    """An argparse type: a comma-separated input shape of positive integers, at least (N, C)."""
    try:
        shape = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 1,3,224,224; got {text!r}") from None
    if len(shape) < 2 or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"expected at least (N, C), all positive, such as 1,3,224,224; got {text!r}")
    return shape


def _json_object(text: str) -> dict:
    """An argparse type: a JSON object of keyword arguments."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"not JSON ({err.msg} at character {err.pos}): {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object such as '{{\"width\": 64}}'; got {text!r}")
    return value


def load_model_factory(spec: str):
    """The class or function ``NAME`` of ``FILE.py:NAME``, imported from that file."""
    path_text, _, name = spec.rpartition(":")
    if not path_text or not name:
        raise InvalidInputError(f"expected FILE.py:NAME, got {spec!r}")
    path = Path(path_text)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; expected a Python file")
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; expected a Python file")
    sys.path.insert(0, str(path.resolve().parent))  # the file may import its neighbours
    module_spec = importlib.util.spec_from_file_location(f"_cgbench_capture_{path.stem}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    factory = getattr(module, name, None)
    if factory is None or not callable(factory):
        found = sorted(n for n, v in vars(module).items() if isinstance(v, type) and not n.startswith("_"))
        raise UnknownNameError(f"{path} has no class or function {name!r} (classes there: {', '.join(found)})")
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
    from .graph import UnknownOpError, capture_report, count_flops, count_params

    model = build_model(load_model_factory(args.model), args.kwargs)
    try:
        report = capture_report(model, args.input_shape, unknown_ops="oov" if args.oov else "error", method=args.method)
    except UnknownOpError as err:
        # List every unmapped op, not only the first, before the one-line error.
        print("\n".join(capture_report(model, args.input_shape, unknown_ops="oov", method=args.method).summary_lines()))
        raise InvalidInputError(f"{err.brief}: map it with cgbench.graph.{err.register} in {args.model.rpartition(':')[0]} "
                                "(a layer of your own: register_op(YourLayer, [...])), or pass --oov (lossy: an "
                                "<oov> node)") from err
    print(f"{args.model} at input {args.input_shape}")
    print("\n".join(report.summary_lines()))
    print(f"  FLOPs {count_flops(model, args.input_shape):,} (torch's counter, 2 per multiply-add), "
          f"parameters {count_params(model):,}")
    if args.draw:
        from .graph.draw import draw

        print(f"  drawing: {draw(report.graph, args.draw, title=args.model)}")
