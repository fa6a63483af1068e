"""Class 2 of the hostile-input issue: bounded reading of untrusted files.

A gzip file that inflates to gigabytes is refused at the cap without filling memory (checked in a
process whose address space is limited); JSON nested deeper than any cgbench format is refused
before the parser recurses; UTF-16, binary, malformed and incomplete files get an error naming
the file and the problem.
"""

import gzip
import json
import subprocess
import sys
import textwrap
import zlib

import pytest

from cgbench.errors import InvalidFileError
from cgbench.evaluation import InvalidPredictionsError
from cgbench.predictions import read_predictions
from cgbench.userfiles import MAX_FILE_BYTES, gunzip, json_depth, parse_json, read_bytes, read_text
from labeling.recipe import resolve_recipe
from cgbench.submission import InvalidSubmissionError, load_submission


def gzip_bomb(path, inflated_gib: int = 8):
    """A valid gzip file of a few MB that inflates to ``inflated_gib`` GiB of zeros (64 MiB members, repeated)."""
    member = gzip.compress(bytes(64 * 2**20), compresslevel=9)
    path.write_bytes(member * (16 * inflated_gib))
    return path


def test_a_gzip_bomb_submission_is_refused_at_the_cap_in_bounded_memory(tmp_path):
    bomb = gzip_bomb(tmp_path / "bomb.json.gz")
    assert bomb.stat().st_size < 20 * 2**20
    # 4 GiB of address space: the interpreter, torch, pyarrow and the 256 MiB cap fit; the 8 GiB never would.
    script = textwrap.dedent(f"""
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (4 * 2**30, 4 * 2**30))
        from cgbench.submission import InvalidSubmissionError, load_submission
        try:
            load_submission({str(bomb)!r})
        except InvalidSubmissionError as err:
            print("refused:", err)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == f"refused: {bomb} inflates to more than 256 MiB, the limit for this file"


def test_gunzip_counts_every_member_and_names_truncation(tmp_path):
    two = gzip.compress(b"ab") + gzip.compress(b"cd") + b"\0\0\0"
    assert gunzip(two, "x") == b"abcd"
    with pytest.raises(InvalidFileError, match="x inflates to more than 3 bytes"):
        gunzip(two, "x", limit=3)
    whole = gzip.compress(bytes(2**20))
    with pytest.raises(InvalidFileError, match="x: truncated gzip file"):
        gunzip(whole[: len(whole) // 2], "x")
    with pytest.raises(InvalidFileError, match=r"x: corrupted or not a gzip file \(.*incorrect header check"):
        gunzip(b"plain text, not gzip", "x")


def test_a_file_above_the_cap_is_refused_before_it_is_read_whole(tmp_path):
    big = tmp_path / "big.json"
    with open(big, "wb") as f:
        f.truncate(MAX_FILE_BYTES + 1)  # sparse: no disk space used
    with pytest.raises(InvalidSubmissionError, match=f"{big} is larger than 256 MiB, the limit for a submission"):
        load_submission(big)
    with pytest.raises(InvalidFileError, match="is larger than 10 bytes"):
        read_bytes(big, "a small file", limit=10)


def test_deeply_nested_json_is_refused_without_recursion(tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(InvalidSubmissionError, match="deep.json: JSON nested 200000 levels deep; at most 64"):
        load_submission(deep)
    with pytest.raises(InvalidPredictionsError, match="JSON nested 200000 levels deep"):
        read_predictions(deep)
    recipe = tmp_path / "recipe.json"
    recipe.write_text('{"a": ' * 100 + "1" + "}" * 100)
    with pytest.raises(InvalidFileError, match="recipe.json: JSON nested 100 levels deep"):
        resolve_recipe(recipe)


def test_json_depth_ignores_brackets_inside_strings():
    assert json_depth(b'{"a": "[[[{{{", "b": ["\\"]]]", {"c": []}]}') == 4
    assert json_depth(b"[]") == 1 and json_depth(b"1") == 0
    assert parse_json(b'{"k": "\\u005b"}', "x") == {"k": "["}


def test_text_encodings_and_binary_files_are_named(tmp_path):
    utf16 = tmp_path / "predictions.csv"
    utf16.write_text("arch_id,y_pred\na,1\n", encoding="utf-16")
    with pytest.raises(InvalidPredictionsError, match=f"{utf16} is UTF-16 text; save it as UTF-8"):
        read_predictions(utf16)
    binary = tmp_path / "predictions.json"
    binary.write_bytes(bytes(range(256)))
    with pytest.raises(InvalidPredictionsError, match=r"predictions.json is binary \(it holds NUL bytes\)"):
        read_predictions(binary)
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("arch_id,y_pred\ncaf\xe9,1\n".encode("latin-1"))
    with pytest.raises(InvalidPredictionsError, match=r"latin1.csv is not UTF-8 text \(invalid byte at offset 18\)"):
        read_predictions(latin1)
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbfarch_id,y_pred\na,1\n")
    assert read_predictions(bom) == {"arch_id": ["a"], "y_pred": [1.0]}
    submission = tmp_path / "method.json"
    submission.write_text(json.dumps({"format": "x"}), encoding="utf-16")
    with pytest.raises(InvalidSubmissionError, match="method.json is UTF-16 text"):
        load_submission(submission)


@pytest.mark.parametrize("text, message", [
    ("arch_id,y_pred\na,1\nb\n", r"line 3: 1 field\(s\), but the header has 2; every row needs its arch_id and y_pred"),
    ("arch_id,y_pred\na,1,2\n", r"line 2: 3 field\(s\), but the header has 2"),
    ("arch_id,score\na,1\n", "a CSV of predictions needs the header arch_id,y_pred; got 'arch_id,score'"),
    ("", "a CSV of predictions needs the header arch_id,y_pred; got ''"),
    ("arch_id,y_pred\na,\n", "line 2: y_pred '' of 'a' is not a number"),
    ("arch_id,y_pred\na,high\n", "line 2: y_pred 'high' of 'a' is not a number"),
    ("arch_id,y_pred\na,nan\n", "line 2: y_pred of 'a' is 'nan'; predictions must be finite"),
    ('arch_id,y_pred\n"a,1\n', r"line 2: 1 field\(s\)"),
])
def test_malformed_csv_predictions_name_the_line(tmp_path, text, message):
    path = tmp_path / "predictions.csv"
    path.write_text(text)
    with pytest.raises(InvalidPredictionsError, match=message):
        read_predictions(path)


def test_malformed_json_predictions_and_submissions(tmp_path):
    path = tmp_path / "predictions.json"
    path.write_text('{"a": 1,')
    with pytest.raises(InvalidPredictionsError, match=r"predictions.json: not valid JSON \(truncated or malformed\)"):
        read_predictions(path)
    submission = tmp_path / "method.json"
    submission.write_text('{"format": ')
    with pytest.raises(InvalidSubmissionError, match="method.json: not valid JSON"):
        load_submission(submission)
    plain_in_gz = tmp_path / "method.json.gz"
    plain_in_gz.write_bytes(zlib.compress(b"{}"))  # zlib, not gzip
    with pytest.raises(InvalidSubmissionError, match="method.json.gz: corrupted or not a gzip file"):
        load_submission(plain_in_gz)


def test_recipe_and_units_files_are_read_within_limits(tmp_path):
    recipe = tmp_path / "recipe.json"
    recipe.write_bytes(b"\x00\x01binary")
    with pytest.raises(InvalidFileError, match="recipe.json is binary"):
        resolve_recipe(recipe)
    units = tmp_path / "units.txt"
    units.write_text("abc\n" * 10)
    assert read_text(units, "a file of unit ids").splitlines() == ["abc"] * 10
    with pytest.raises(IsADirectoryError, match="is a folder; expected a file of unit ids"):
        read_text(tmp_path, "a file of unit ids")
