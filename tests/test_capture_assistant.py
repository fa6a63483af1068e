"""The capture assistant: auto capture by default, clear errors that say what to do, registered
op mappings, a report of everything that did not become a node, and ``cgbench capture``."""

import pytest
import torch
import torch.nn as nn

from cgbench.cli import main
from cgbench.graph import (ControlFlowError, FxTraceError, ModelRunError, UnknownOpError, capture_report, from_module,
                           register_op)
import cgbench.graph.capture as capture_module
from cgbench.graph.vocab import OP_ID
from test_capture import _Erf  # conv, then torch.special.erf: an op with no CG mapping


@pytest.fixture
def registry():
    """register_op changes every later capture: each test gets the registries back as they were."""
    tables = (capture_module._USER_MODULES, capture_module._USER_FUNCTIONS, capture_module._USER_NAMES)
    saved = [dict(t) for t in tables]
    yield
    for table, before in zip(tables, saved):
        table.clear()
        table.update(before)


class _ScaledByMean(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)

    def forward(self, x):
        return self.conv(x) * x.mean()


def test_an_activation_times_a_scalar_reduction_is_captured():
    cg = from_module(_ScaledByMean(), (1, 3, 16, 16))
    names = cg.op_names()
    assert sorted(names) == ["conv", "input", "mean", "mul", "output"]
    mul = names.index("mul")
    assert sorted(names[s] for s, t in cg.edges.tolist() if t == mul) == ["conv", "mean"]
    assert cg.shape[names.index("mean")].tolist() == [16, 1, 16, 1, 3, 1]


class _ShapeBranching(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)

    def forward(self, x):
        y = torch.relu(self.conv(x))
        if y.shape[-1] > 16:
            y = nn.functional.max_pool2d(y, 2)
        return y.mean((2, 3))


def test_auto_is_the_default_and_reports_why_fx_gave_way():
    with pytest.raises(FxTraceError, match="method='auto'"):
        from_module(_ShapeBranching(), (1, 3, 32, 32), method="fx")
    report = capture_report(_ShapeBranching(), (1, 3, 32, 32))
    assert report.method == "export" and "torch.fx cannot trace" in report.fx_failure
    assert report.graph.op_names() == ["input", "conv", "relu", "maxpool", "mean", "output"]
    assert from_module(_ShapeBranching(), (1, 3, 32, 32)) == report.graph


class _ValueBranching(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)

    def forward(self, x):
        y = self.conv(x)
        if y.sum() > 0:
            return torch.relu(y)
        return y


def test_data_dependent_control_flow_names_the_line_and_the_fix(capfd):
    with pytest.raises(ControlFlowError) as err:
        from_module(_ValueBranching(), (1, 3, 16, 16))
    message = str(err.value)
    assert "values of a tensor" in message and "if y.sum() > 0:" in message and __file__ in message
    assert "depend on shapes" in message
    assert "def forward" not in capfd.readouterr().err  # torch's graph dump stays off the screen


def test_a_wrong_input_shape_says_what_the_first_layer_takes(capfd):
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU())
    with pytest.raises(ModelRunError) as err:
        from_module(model, (1, 1, 16, 16))
    assert "input of shape (1, 1, 16, 16)" in str(err.value)
    assert "first layer '0' (Conv2d) takes 3 channels" in str(err.value)
    assert "Traceback" not in capfd.readouterr().err
    with pytest.raises(ModelRunError, match="takes 768 features"):
        from_module(nn.Sequential(nn.Flatten(), nn.Linear(768, 10)), (1, 3, 32, 32), method="export")


def test_an_unknown_op_error_lists_the_fixes_best_first(registry):
    with pytest.raises(UnknownOpError) as err:
        from_module(_Erf(), (1, 3, 8, 8))
    message = str(err.value)
    assert message.index("register_op('special_erf', OP)") < message.index("YourLayer") < message.index("'oov'")
    assert "lossy" in message
    # The printed call is the fix: registering it makes the capture complete.
    register_op("special_erf", "gelu")
    assert from_module(_Erf(), (1, 3, 8, 8)).op_names() == ["input", "conv", "gelu", "output"]


def test_a_registered_function_maps_in_fx_and_oov_is_reported(registry):
    report = capture_report(_Erf(), (1, 3, 8, 8), unknown_ops="oov", method="fx")
    assert report.graph.op_names() == ["input", "conv", "<oov>", "output"]
    assert report.unknown == [("special_erf", "<top level>")]
    assert any("<oov>" in line for line in report.summary_lines())
    register_op(torch.special.erf, ["gelu", "identity"])
    assert from_module(_Erf(), (1, 3, 8, 8), method="fx").op_names() == ["input", "conv", "gelu", "identity", "output"]


class _Gate(nn.Module):
    """A layer of the user's own, traced through by default (its ops: sigmoid, mul)."""

    def forward(self, x):
        return x * torch.sigmoid(x)


def test_a_registered_layer_is_one_unit(registry):
    model = nn.Sequential(nn.Conv2d(3, 4, 1), _Gate())
    assert from_module(model, (1, 3, 8, 8)).op_names() == ["input", "conv", "sigmoid", "mul", "output"]
    register_op(_Gate, "swish")
    assert from_module(model, (1, 3, 8, 8)).op_names() == ["input", "conv", "swish", "output"]
    register_op(_Gate, None)  # folded: the layer computes nothing a CG records
    assert from_module(model, (1, 3, 8, 8)).op_names() == ["input", "conv", "output"]


def test_register_op_refuses_what_it_cannot_map(registry):
    with pytest.raises(KeyError, match="vocabulary"):
        register_op("special_erf", "erf")
    with pytest.raises(TypeError, match="nn.Module subclass"):
        register_op(42, "relu")


class _Rolled(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x):
        return torch.roll(self.conv(x), 1, 2).flatten(1)


@pytest.mark.parametrize("method", ["fx", "export"])
def test_folded_ops_are_reported_not_dropped_silently(method):
    report = capture_report(_Rolled(), (1, 3, 8, 8), method=method)
    assert report.graph.op_names() == ["input", "conv", "output"]
    assert report.folded["roll"] == 1
    assert any("roll x1" in line for line in report.summary_lines())


_USER_FILE = '''
import torch
import torch.nn as nn


class Tiny(nn.Module):
    def __init__(self, width=8):
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3, padding=1)
        self.head = nn.Linear(width, 10)

    def forward(self, x):
        return self.head(torch.relu(self.conv(x)).mean((2, 3)))


class WithErf(nn.Module):
    def forward(self, x):
        return torch.special.erf(x) + torch.special.erf(x).mean()
'''


def test_cgbench_capture_prints_the_summary_and_draws(tmp_path, capsys):
    (tmp_path / "models.py").write_text(_USER_FILE)
    out = tmp_path / "tiny.png"
    main(["capture", f"{tmp_path / 'models.py'}:Tiny", "--input-shape", "1,3,16,16", "--kwargs", '{"width": 4}',
          "--draw", str(out)])
    printed = capsys.readouterr().out
    assert "CG: 6 nodes" in printed and "conv x1" in printed and "unmapped ops: none" in printed
    assert "parameters 162" in printed  # 3*4*9 + 4 (conv) + 4*10 + 10 (head)
    assert out.stat().st_size > 1000


def test_cgbench_capture_lists_every_unmapped_op_and_fails(tmp_path, capsys, cli_error):
    (tmp_path / "models.py").write_text(_USER_FILE)
    models = tmp_path / "models.py"
    with pytest.raises(SystemExit) as exit_info:
        main(["capture", f"{models}:WithErf", "--input-shape", "1,3,8,8"])
    printed = capsys.readouterr()
    assert exit_info.value.code == 2 and "unmapped ops written as <oov> (2)" in printed.out  # every one, then the error
    line = printed.err.strip().splitlines()[-1]
    assert line.startswith("cgbench capture: error: no CG mapping for ") and "register_op('special_erf', OP)" in line
    assert line.endswith("or pass --oov (lossy: an <oov> node)") and "Traceback" not in printed.err
    main(["capture", f"{models}:WithErf", "--input-shape", "1,3,8,8", "--oov"])
    assert "<oov> x2" in capsys.readouterr().out
    assert cli_error("capture", f"{models}:Nope", "--input-shape", "1,3,8,8") == \
        f"cgbench capture: error: {models} has no class or function 'Nope' (classes there: Tiny, WithErf)"
    assert OP_ID["<oov>"] == 0


def test_cgbench_capture_says_what_is_wrong_in_one_line(tmp_path, cli_error):
    (tmp_path / "models.py").write_text(_USER_FILE)
    models = tmp_path / "models.py"
    assert cli_error("capture", f"{models}:Tiny", "--input-shape", "1,1,16,16").startswith(
        "cgbench capture: error: the model fails when run on an input of shape (1, 1, 16, 16)")
    assert cli_error("capture", models, "--input-shape", "1,3,8,8") == \
        f"cgbench capture: error: expected FILE.py:NAME, got {str(models)!r}"
    assert cli_error("capture", f"{tmp_path / 'nope.py'}:Tiny", "--input-shape", "1,3,8,8") == \
        f"cgbench capture: error: {tmp_path / 'nope.py'} does not exist; expected a Python file"
    assert "argument --input-shape: expected comma-separated integers" in cli_error(
        "capture", f"{models}:Tiny", "--input-shape", "1,3,x")
    assert "argument --kwargs: expected a JSON object" in cli_error(
        "capture", f"{models}:Tiny", "--input-shape", "1,3,8,8", "--kwargs", "[1]")
