"""The registry as users see it: `cgbench families`, `cgbench import`, label metadata of every family."""

import pytest

from cgbench.cli import main
from cgbench.families import family_spec, list_families
from cgbench.families.registry import _IMPORTERS
from cgbench.importers import IMPORT_KINDS


def test_cli_lists_every_family_with_labels_and_sources(cgbench_home, capsys):
    main(["families"])
    lines = capsys.readouterr().out.splitlines()
    for name in list_families():
        spec = family_spec(name)
        # The line that starts with the name (not e.g. gennape_nb201's, which contains "nb201 ").
        first = next(i for i, line in enumerate(lines) if line.split()[0] == name)
        assert f"v{spec.version}" in lines[first]
        assert lines[first + 1].strip().startswith("labels:")
        assert lines[first + 2].strip().startswith("sources:")


@pytest.mark.parametrize("name", list_families())
def test_every_label_column_says_what_it_is(name):
    spec = family_spec(name)
    for label in spec.labels:
        for field in ("source_id", "dataset", "split", "unit", "seeds", "licence", "description"):
            assert getattr(label, field), (name, label.name, field)
    if spec.default_target is not None:
        assert spec.default_target in {label.name for label in spec.labels}


def test_import_command_rejects_an_unknown_kind(cli_error):
    assert "invalid choice: 'no-such-kind'" in cli_error("import", "no-such-kind", "x")


def test_families_needing_user_files_name_their_import_command():
    kinds = set(IMPORT_KINDS)
    assert set(_IMPORTERS) == kinds, "every declared import kind has its reader registered, and only those"
    for name in list_families():
        command = family_spec(name).import_command
        if command is not None:
            assert command.split()[:2] == ["cgbench", "import"] and command.split()[2] in kinds, (name, command)


def test_main_job_builds_every_public_family_except_the_slow_timm_zoo():
    from cgbench.cli import main_job_families

    expected = {n for n in list_families() if family_spec(n).import_command is None} - {"timm_zoo"}
    assert set(main_job_families()) == expected
    assert {"nb201", "hiaml", "ofa_mbv3", "torchvision_zoo"} <= expected
