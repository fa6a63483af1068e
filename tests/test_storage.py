import os
import pickle
import shutil

import numpy as np
import pyarrow as pa
import pytest

from cgbench.dataset import Family
from cgbench.families import family_spec
from cgbench.safe_pickle import UnsafePickleError, restricted_load
from cgbench.sources import RawFile, SourceIntegrityError, fetch, sha256_of
from cgbench.storage import (FamilyIntegrityError, GraphTable, atomic_write, export_hdf5, import_hdf5,
                             read_parquet)


def test_parquet_graph_columns_round_trip(nb201):
    graphs = GraphTable.from_arrow(nb201.table)
    again = GraphTable.from_arrow(pa.table(graphs.to_arrow_columns()))
    for name in ("node_ptr", "edge_ptr", "op", "shape", "attr", "edges"):
        assert np.array_equal(getattr(graphs, name), getattr(again, name))
    assert nb201.graph(123) == again.graph(123)


def test_hdf5_round_trip_is_exact(nb201, tmp_path):
    path = tmp_path / "nb201.h5"
    export_hdf5(nb201.table, nb201.manifest, path)
    table, manifest = import_hdf5(path)
    assert manifest == nb201.manifest
    assert table.schema.equals(nb201.table.schema)
    assert table.equals(nb201.table)


@pytest.fixture
def family_copy(nb201, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(nb201.folder, folder, ignore=shutil.ignore_patterns("pyg"))
    return folder


def test_altered_file_is_refused_with_rebuild_hint(family_copy):
    data = family_copy / "data.parquet"
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    data.write_bytes(bytes(raw))
    with pytest.raises(FamilyIntegrityError, match="cgbench build nb201 --force"):
        Family.from_folder(family_spec("nb201"), family_copy)


def test_truncated_file_is_refused_with_rebuild_hint(family_copy):
    data = family_copy / "splits.parquet"
    data.write_bytes(data.read_bytes()[:100])
    with pytest.raises(FamilyIntegrityError, match="truncated or altered.*cgbench build nb201"):
        Family.from_folder(family_spec("nb201"), family_copy)


def test_missing_manifest_means_unfinished_build(family_copy):
    (family_copy / "manifest.json").unlink()
    with pytest.raises(FamilyIntegrityError, match="never built or its build was interrupted"):
        Family.from_folder(family_spec("nb201"), family_copy)


def test_interrupted_atomic_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "table.parquet"
    target.write_text("old")

    def crash(tmp):
        tmp.write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, crash)
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["table.parquet"]


def test_fetch_verifies_sha256_of_the_mirror(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror" / "src"
    mirror.mkdir(parents=True)
    (mirror / "f.json").write_text('{"a": 1}')
    good = RawFile("src", "f.json", "https://example.invalid/f.json", sha256_of(mirror / "f.json"), "MIT")
    monkeypatch.setenv("CGBENCH_MIRROR", str(tmp_path / "mirror"))
    monkeypatch.setenv("CGBENCH_HOME", str(tmp_path / "home"))
    assert fetch(good, progress=False).read_text() == '{"a": 1}'
    (mirror / "f.json").write_text('{"a": 1')  # truncated
    bad = RawFile("src", "f.json", good.url, good.sha256, "MIT")
    (tmp_path / "home" / "raw" / "src" / "f.json").unlink()
    with pytest.raises(SourceIntegrityError, match="truncated or altered"):
        fetch(bad, progress=False)
    assert not (tmp_path / "home" / "raw" / "src" / "f.json").exists()


class _Hostile:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_hostile_pickle_is_refused():
    with pytest.raises(UnsafePickleError, match="os.system|posix.system"):
        restricted_load(pickle.dumps(_Hostile()), allowed={"builtins.dict"})


def test_parquet_reads_are_memory_mapped_tables(nb201):
    table = read_parquet(nb201.folder / "data.parquet")
    assert table.num_rows == 15625


def test_hdf5_round_trip_of_list_columns(nb201, tmp_path):
    """Families may carry per-node extra columns (GENNAPE features): nested lists, with nulls."""
    small = nb201.table.slice(0, 3)
    per_node = pa.array([[0.5, 1.0], None, [2.0]], pa.list_(pa.float32()))
    nested = pa.array([[[1, 2], [3]], [[4]], []], pa.list_(pa.list_(pa.int16())))
    table = small.append_column("per_node", per_node).append_column("nested", nested)
    path = tmp_path / "lists.h5"
    export_hdf5(table, nb201.manifest, path)
    back, _ = import_hdf5(path)
    assert back.equals(table)


def test_a_table_read_back_and_written_again_has_the_same_bytes(tmp_path):
    """Parquet names list items 'element' on reading; written again, the file must not change (its
    sha256 is the family's data_sha256, which submissions record)."""
    import pyarrow.parquet as pq

    from cgbench.storage import DATA_FILE, write_family

    shapes = pa.array([[[1, 2, 3, 4, 5, 6]], [[6, 5, 4, 3, 2, 1], [0] * 6]], pa.list_(pa.list_(pa.int32(), 6)))
    table = pa.table({"node_op": pa.array([[1, 2], [3]], pa.list_(pa.int16())), "node_shape": shapes})
    splits = pa.table({"row": pa.array([0, 1], pa.int64())})
    write_family(tmp_path / "a", table, splits, {"name": "x"})
    read = pq.read_table(tmp_path / "a" / DATA_FILE)
    assert read.schema.field("node_op").type.value_field.name == "element"  # what makes this test necessary
    write_family(tmp_path / "b", read, splits, {"name": "x"})
    assert sha256_of(tmp_path / "a" / DATA_FILE) == sha256_of(tmp_path / "b" / DATA_FILE)
    assert pq.read_table(tmp_path / "b" / DATA_FILE).equals(read)
