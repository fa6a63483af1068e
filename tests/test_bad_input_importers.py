"""Class 4 of the hostile-input issue: importers say what is wrong with the file.

Each bad input to ``cgbench import`` (an empty or cut tfrecord, a folder given for the zip, a zip
whose pickle holds an empty list, a binary ``*.json`` in the NB-301 folder, ...) is an error that
names the file (and, inside a zip or a tfrecord, the member or byte offset) and writes nothing.
"""

import base64
import json
import pickle
import zipfile

import pytest

from cgbench.dataset import import_families
from cgbench.errors import InvalidFileError
from cgbench.families.nb101 import make_cell, nb101_hash
from cgbench.formats.tfrecord import TFRecordError, frame_record, write_records

HIAML_JSON = "gpi_test_hiaml_cifar10_labelled_cg_data.json"
NB101_CACHE = "gpi_nb101_comp_graph_cache.pkl"


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A CGBENCH_HOME of the test's own: a refused import must leave it empty."""
    home = tmp_path / "home"
    monkeypatch.setenv("CGBENCH_HOME", str(home))
    yield home
    assert not (home / "families").exists()


def write_zip(path, members: dict[str, bytes]):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def nb101_record(module_hash: str, adjacency: str, ops: str, metrics: bytes = b"", epochs: int = 108) -> bytes:
    return json.dumps([module_hash, epochs, adjacency, ops, base64.b64encode(metrics).decode()]).encode()


def test_an_empty_tfrecord(home, tmp_path):
    path = tmp_path / "nasbench_only108.tfrecord"
    path.write_bytes(b"")
    with pytest.raises(InvalidFileError, match=f"{path} holds no records \\(an empty file\\)"):
        import_families("nb101", path, progress=False)


def test_a_tfrecord_cut_mid_record_names_the_byte_offset(home, tmp_path, cli_error):
    # A valid 12-epoch record (read, then skipped: only 108-epoch runs are labels), then a cut-off copy.
    cell = make_cell([[0, 1], [0, 0]], ["input", "output"])
    record = nb101_record(nb101_hash(cell), "0100", "input,output", epochs=12)
    path = tmp_path / "cut.tfrecord"
    path.write_bytes(frame_record(record) + frame_record(record)[:20])
    second = len(frame_record(record))
    with pytest.raises(TFRecordError, match=f"{path}: truncated at byte {second + 20}: the file ends inside the data "
                                            f"of the record that starts at byte {second}"):
        import_families("nb101", path, progress=False)
    assert cli_error("import", "nb101", path, "--no-progress").startswith(
        f"cgbench import: error: {path}: truncated at byte {second + 20}")


@pytest.mark.parametrize("records, message", [
    ([b"\xff\xfe not json"], "record at byte 0 is not NB-101's JSON list"),
    ([b'{"a": 1}'], r"record at byte 0 should be a JSON list of 5 fields"),
    ([json.dumps(["h", "108", "0100", "input,output", ""]).encode()], r"record at byte 0 should hold \[hash, epochs"),
    ([json.dumps(["h", 108, "0100", "input,output", "%%%"]).encode()],
     "record at byte 0: its ModelMetrics field is not a base64 protobuf message"),
    ([nb101_record("h", "0100", "input,output", b"\x0a\xff")],
     "record at byte 0: its ModelMetrics field is not a base64 protobuf message"),
    ([nb101_record("h", "010", "input,output")], "record at byte 0: adjacency '010' is not a square 0/1 matrix"),
    ([nb101_record("h", "0100", "input,conv9x9,output")], "record at byte 0: NAS-Bench-101 cell has 2 vertices but 3"),
    ([nb101_record("h", "0100", "input,output")], "record at byte 0: NB-101 hash h does not match its cell"),
])
def test_malformed_tfrecord_records_name_the_file_and_offset(home, tmp_path, records, message):
    path = tmp_path / "bad.tfrecord"
    write_records(path, records)
    with pytest.raises(InvalidFileError, match=f"{path}: {message}"):
        import_families("nb101", path, progress=False)


def test_a_folder_given_for_the_zip_and_a_file_for_the_folder(home, tmp_path):
    with pytest.raises(IsADirectoryError, match=f"{tmp_path} is a folder; expected GENNAPE's CG_data.zip"):
        import_families("gennape", tmp_path, progress=False)
    file = tmp_path / "results.json"
    file.write_text("{}")
    with pytest.raises(NotADirectoryError, match=f"{file} is a file; expected a folder of NAS-Bench-301 result"):
        import_families("nb301", file, progress=False)
    with pytest.raises(NotADirectoryError, match="does not exist; expected a folder of NAS-Bench-301"):
        import_families("nb301", tmp_path / "missing", progress=False)


def test_a_zip_whose_pickle_holds_an_empty_list(home, tmp_path):
    path = write_zip(tmp_path / "CG_data.zip", {f"cache/{NB101_CACHE}": pickle.dumps([])})
    with pytest.raises(InvalidFileError, match=f"{path}: {NB101_CACHE} holds no architectures"):
        import_families("gennape", path, progress=False)


@pytest.mark.parametrize("member, data, message", [
    (f"cache/{NB101_CACHE}", pickle.dumps([{"compute graph": 1}])[:-5], "is not a readable pickle"),
    (f"cache/{NB101_CACHE}", pickle.dumps({"a": 1}), "must hold a list of dicts, got dict"),
    (f"cache/{NB101_CACHE}", pickle.dumps([{"acc": 0.5}]), "every entry must be a dict with a 'compute graph'"),
    (f"data/{HIAML_JSON}", b"\x00\x01\x02", "is binary"),
    (f"data/{HIAML_JSON}", b'{"0": ', "not valid JSON"),
    (f"data/{HIAML_JSON}", b"[]", "must hold a JSON object of architectures"),
    (f"data/{HIAML_JSON}", b"{}", "holds no architectures"),
    (f"data/{HIAML_JSON}", b'{"0": {"cg": {}, "max_perf": 90}}', "lacks the attribute 'max_derived_H'"),
    (f"data/{HIAML_JSON}", b'{"0": {"cg": 5, "max_perf": "high", "perfs": 3}}', "'perfs' must be a list"),
])
def test_bad_gennape_files_name_the_zip_and_the_member(home, tmp_path, member, data, message):
    path = write_zip(tmp_path / "CG_data.zip", {member: data})
    name = member.split("/")[-1]
    with pytest.raises(InvalidFileError, match=f"{path}: {name}.*{message}"):
        import_families("gennape", path, progress=False)


def test_a_corrupt_zip(home, tmp_path):
    path = tmp_path / "CG_data.zip"
    path.write_bytes(b"PK\x03\x04" + bytes(100))
    with pytest.raises(InvalidFileError, match=f"{path} is not a readable zip archive"):
        import_families("gennape", path, progress=False)


def test_a_binary_json_in_the_nb301_folder(home, tmp_path):
    (tmp_path / "rs").mkdir()
    binary = tmp_path / "rs" / "results_0.json"
    binary.write_bytes(bytes(range(256)))
    with pytest.raises(InvalidFileError, match=f"{binary} is binary \\(it holds NUL bytes\\), not UTF-8 text"):
        import_families("nb301", tmp_path, progress=False)


@pytest.mark.parametrize("content, message", [
    ("[1, 2]", "missing key 'optimized_hyperparamater_config'"),
    ('{"optimized_hyperparamater_config": 3}', "missing key"),
    ("{", "not valid JSON"),
    ("[" * 500 + "]" * 500, "JSON nested 500 levels deep"),
])
def test_malformed_nb301_results_name_the_file(home, tmp_path, content, message):
    path = tmp_path / "results_1.json"
    path.write_text(content)
    with pytest.raises(InvalidFileError, match=f"{path}.*{message}"):
        import_families("nb301", tmp_path, progress=False)
    assert not list(tmp_path.glob("*.parquet"))
