"""NAS-Bench-101: canonical cells and hash, the official network's parameter counts, the
500-cell NASLib family, and the TFRecord importer of the official dataset files."""

import base64
import json
import struct

import numpy as np
import pytest
import torch

from cgbench.families.nb101 import (CONV1X1, CONV3X3, INPUT, MAXPOOL3X3, OUTPUT, SPACE, Cell, NB101Cell,
                                    from_naslib_key, make_cell, nb101_hash, prune, vertex_channels)
from cgbench.formats.naslib_zc import read_zc_nasbench101
from cgbench.formats.tfrecord import (TFRecordError, crc32c, decode_fields, frame_record, masked_crc32c,
                                      read_records, write_records)
from cgbench.dataset import import_families
from cgbench.graph import count_flops, count_params, from_module
from conftest import MIRROR as SHARED_DATA

NASLIB_ZC = SHARED_DATA / "naslib-zc-nb101" / "zc_nasbench101.json"

# The Inception-like cell of NB-101's README and Colab, as queried, and the module NB-101 stores for
# it (its canonical representative) with its published trainable_parameters and one run's metrics.
README_MATRIX = [[0, 1, 1, 1, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 1, 0, 0],
                 [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0]]
README_OPS = [INPUT, CONV1X1, CONV3X3, CONV3X3, CONV3X3, MAXPOOL3X3, OUTPUT]
STORED_MATRIX = ((0, 1, 1, 1, 1, 0, 0), (0, 0, 0, 0, 0, 0, 1), (0, 0, 0, 0, 0, 0, 1), (0, 0, 0, 0, 0, 0, 1),
                 (0, 0, 0, 0, 0, 1, 0), (0, 0, 0, 0, 0, 0, 1), (0, 0, 0, 0, 0, 0, 0))
STORED_OPS = (INPUT, CONV3X3, CONV1X1, MAXPOOL3X3, CONV3X3, CONV3X3, OUTPUT)
PUBLISHED_PARAMS = 2694282
PUBLISHED_RUN = {"training_time": 1155.85302734375, "train_accuracy": 1.0,
                 "validation_accuracy": 0.9376001358032227, "test_accuracy": 0.9311898946762085}


def naslib_records():
    return read_zc_nasbench101(NASLIB_ZC)


# ---------------------------------------------------------------------------------------------
# Cells


def test_canonical_form_is_the_module_nb101_stores_and_counts_published_params():
    cell = make_cell(README_MATRIX, README_OPS)
    assert cell == Cell(STORED_MATRIX, STORED_OPS)
    assert SPACE.composed(cell).params == PUBLISHED_PARAMS
    with torch.device("meta"):
        assert count_params(SPACE.build(cell)) == PUBLISHED_PARAMS


def test_pruning_drops_vertices_off_the_input_output_path():
    matrix = np.zeros((7, 7), int)
    matrix[0, 1] = matrix[1, 6] = 1   # the path
    matrix[0, 2] = 1                  # 2 is a dead end
    matrix[3, 6] = 1                  # 3 is not fed by the input
    cell = make_cell(matrix, [INPUT, CONV3X3, CONV1X1, MAXPOOL3X3, CONV3X3, CONV3X3, OUTPUT])
    assert cell == Cell(((0, 1, 0), (0, 0, 1), (0, 0, 0)), (INPUT, CONV3X3, OUTPUT))
    with pytest.raises(ValueError, match="no path"):
        make_cell(np.zeros((7, 7), int), [INPUT] + [CONV3X3] * 5 + [OUTPUT])


def test_hash_follows_nb101_graph_util_cases():
    # Diamond with swapped ops: isomorphic.
    diamond = ((0, 1, 1, 0), (0, 0, 0, 1), (0, 0, 0, 1), (0, 0, 0, 0))
    assert nb101_hash(Cell(diamond, (INPUT, CONV1X1, MAXPOOL3X3, OUTPUT))) == \
        nb101_hash(Cell(diamond, (INPUT, MAXPOOL3X3, CONV1X1, OUTPUT)))
    # A chain where only the op order differs is not isomorphic (needs a vertex's own hash).
    chain = ((0, 1, 0, 0, 0), (0, 0, 1, 0, 0), (0, 0, 0, 1, 0), (0, 0, 0, 0, 1), (0, 0, 0, 0, 0))
    assert nb101_hash(Cell(chain, (INPUT, CONV1X1, CONV3X3, CONV3X3, OUTPUT))) != \
        nb101_hash(Cell(chain, (INPUT, CONV3X3, CONV3X3, CONV1X1, OUTPUT)))


def test_isomorphic_cells_share_arch_id_and_hash():
    rng = np.random.default_rng(5)
    for _ in range(30):
        cell = SPACE.sample(rng)
        n = cell.n_vertices
        interior = rng.permutation(np.arange(1, n - 1))
        order = [0, *interior, n - 1]
        matrix = np.asarray(cell.matrix)[np.ix_(order, order)]
        if np.tril(matrix).any():
            continue  # this order is not topological, so it is not an NB-101 matrix
        permuted = make_cell(matrix, [cell.ops[v] for v in order])
        assert SPACE.arch_id(permuted) == SPACE.arch_id(cell)
        assert nb101_hash(Cell(tuple(map(tuple, matrix.tolist())), tuple(cell.ops[v] for v in order))) == \
            nb101_hash(cell)


def test_parse_rejects_out_of_space_and_non_canonical_strings():
    cell = make_cell(README_MATRIX, README_OPS)
    text = SPACE.arch_id(cell)
    assert SPACE.parse(text) == cell
    raw = "/".join("".join(map(str, r)) for r in README_MATRIX) + "|" + ",".join(README_OPS)
    with pytest.raises(ValueError, match="canonical"):
        SPACE.parse(raw)
    with pytest.raises(ValueError, match="ops"):
        SPACE.parse(text.replace(MAXPOOL3X3, "avgpool3x3"))
    ten_edges = np.triu(np.ones((7, 7), int), 1)
    with pytest.raises(ValueError, match="edges"):
        make_cell(ten_edges, README_OPS)


def test_vertex_channels_match_nb101_model_builder_cases():
    # Cases of NB-101's model_builder_test (their input/output channel pairs).
    linear = ((0, 1, 0, 0), (0, 0, 1, 0), (0, 0, 0, 1), (0, 0, 0, 0))
    assert vertex_channels(8, 16, linear) == [8, 16, 16, 16]
    branching = ((0, 1, 1, 0), (0, 0, 0, 1), (0, 0, 0, 1), (0, 0, 0, 0))
    assert vertex_channels(8, 15, branching) == [8, 8, 7, 15]
    five = ((0, 1, 1, 1, 0), (0, 0, 0, 0, 1), (0, 0, 0, 0, 1), (0, 0, 0, 0, 1), (0, 0, 0, 0, 0))
    assert vertex_channels(8, 8, five) == [8, 3, 3, 2, 8]


def _truncates(cell: Cell) -> bool:
    """Whether some interior edge goes from a vertex with a +1 remainder channel to a narrower one."""
    last = cell.n_vertices - 1
    for channels in (128, 256, 512):
        widths = vertex_channels(channels, channels, cell.matrix)
        if any(widths[a] > widths[b] for a, b in cell.edges() if 0 < a and b < last):
            return True
    return False


def test_truncating_cell_composes_like_its_capture():
    rng = np.random.default_rng(11)
    cell = next(c for c in iter(lambda: SPACE.sample(rng), None) if _truncates(c))
    assert any(w > 0 for w in NB101Cell(cell, 128, 128).channels)
    with torch.device("meta"):
        net = SPACE.build(cell)
    composed = SPACE.composed(cell)
    assert composed.graph == from_module(net, SPACE.input_shape)
    assert composed.flops == count_flops(net, SPACE.input_shape)
    assert composed.params == count_params(net)
    with torch.no_grad():
        assert SPACE.build(cell).eval()(torch.randn(2, 3, 32, 32)).shape == (2, 10)


# ---------------------------------------------------------------------------------------------
# NASLib's 500 cells


def test_params_agree_with_naslib_on_all_500_cells():
    """NASLib's "params" is tensorwatch's parameter count / 1e6 of the network it built from its key.

    Built in NASLib's own vertex order, every count matches. Built in NB-101's canonical order (the
    module NB-101 trained), a count may differ only where NASLib's key is an isomorphic reordering,
    because the +1 remainder channels then fall on other vertices.
    """
    records = naslib_records()
    assert len(records) == 500
    canonical_mismatch_orders_differ = True
    for key, record in records.items():
        matrix, ops = prune(*from_naslib_key(key))
        as_keyed = Cell(tuple(map(tuple, matrix.tolist())), tuple(ops))
        naslib_params = round(record["params"] * 1e6)
        assert SPACE.composed(as_keyed).params == naslib_params, key
        canonical = make_cell(matrix, ops)
        if SPACE.composed(canonical).params != naslib_params:
            canonical_mismatch_orders_differ &= canonical != as_keyed
    assert canonical_mismatch_orders_differ


def test_family_builds_loads_and_converts_to_pyg(cgbench_home):
    from cgbench import load_family

    family = load_family("nb101", progress=False)
    assert len(family) == 500
    labels = family.labels()
    assert np.isfinite(labels).all() and 50 < labels.mean() < 100
    frame = family.to_pandas()
    hashes = frame["nb101_hash"]
    assert frame["arch_id"].nunique() == hashes.nunique()
    cell = SPACE.parse(family.arch_ids[0])
    assert nb101_hash(cell) == hashes.iloc[0]
    dataset = family.to_pyg()
    assert dataset[0].num_nodes == family.graph(0).n_nodes


# ---------------------------------------------------------------------------------------------
# TFRecord framing and the importer


def test_crc32c_known_answer_and_masking():
    assert crc32c(b"123456789") == 0xE3069283   # the CRC-32C check value
    crc = crc32c(b"abc")
    assert masked_crc32c(b"abc") == ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def _key(number: int, wire_type: int) -> bytes:
    return _varint(number << 3 | wire_type)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _double(number: int, value: float) -> bytes:
    return _key(number, 1) + struct.pack("<d", value)


def _evaluation(epoch: float, run: dict) -> bytes:
    path = b"/model_dir/model.ckpt-0"
    return (_double(1, epoch) + _double(2, run["training_time"]) + _double(3, run["train_accuracy"])
            + _double(4, run["validation_accuracy"]) + _double(5, run["test_accuracy"])
            + _key(6, 2) + _varint(len(path)) + path)


def _model_metrics(params: int, runs_at: list[tuple[float, dict]]) -> bytes:
    body = b""
    for epoch, run in runs_at:
        message = _evaluation(epoch, run)
        body += _key(1, 2) + _varint(len(message)) + message
    return body + _key(2, 0) + _varint(params) + _double(3, 4321.5)


def _record(cell: Cell, epochs: int, params: int, run: dict) -> bytes:
    start = {"training_time": 0.0, "train_accuracy": 0.1, "validation_accuracy": 0.1, "test_accuracy": 0.1}
    half = {k: v / 2 for k, v in run.items()}
    metrics = _model_metrics(params, [(0.0, start), (epochs / 2, half), (float(epochs), run)])
    adjacency = "".join(str(v) for row in cell.matrix for v in row)
    return json.dumps([nb101_hash(cell), epochs, adjacency, ",".join(cell.ops),
                       base64.b64encode(metrics).decode()]).encode()


@pytest.fixture(scope="module")
def tfrecord(tmp_path_factory):
    """Three real NB-101 cells (README's and two of NASLib's), three 108-epoch runs each and one
    12-epoch run, framed as NB-101's files are."""
    cells = [Cell(STORED_MATRIX, STORED_OPS)] + [make_cell(*from_naslib_key(k)) for k in list(naslib_records())[:2]]
    records, expected = [], {}
    for i, cell in enumerate(cells):
        params = SPACE.composed(cell).params
        runs = [PUBLISHED_RUN] + [{**PUBLISHED_RUN, "validation_accuracy": 0.90 + 0.01 * (i + r),
                                   "test_accuracy": 0.89 + 0.01 * r, "training_time": 1000.0 + 10 * r}
                                  for r in (1, 2)]
        records.append(_record(cell, 12, params, runs[1]))
        records.extend(_record(cell, 108, params, run) for run in runs)
        expected[nb101_hash(cell)] = (cell, params, runs)
    path = tmp_path_factory.mktemp("nb101") / "nasbench_only108.tfrecord"
    write_records(path, records)
    return path, records, expected


def test_records_round_trip_and_protobuf_fields(tfrecord):
    path, records, _ = tfrecord
    read = list(read_records(path))
    assert [data for _, data in read] == records
    assert read[1][0] == 16 + len(records[0])
    metrics = base64.b64decode(json.loads(records[1])[4])
    numbers = [n for n, _, _ in decode_fields(metrics)]
    assert numbers == [1, 1, 1, 2, 3]


def test_importer_round_trip(tfrecord, cgbench_home, tmp_path, monkeypatch):
    from cgbench import load_family

    # a home of its own: an nb101_full in the session's home would become the GENNAPE tracks' source
    monkeypatch.setenv("CGBENCH_HOME", str(tmp_path / "home"))
    path, _, expected = tfrecord
    assert import_families("nb101", path, progress=False) == ["nb101_full"]
    family = load_family("nb101_full", progress=False)
    frame = family.to_pandas()
    assert len(frame) == len(expected)
    for _, row in frame.iterrows():
        cell, params, runs = expected[row["nb101_hash"]]
        assert row["arch_id"] == SPACE.arch_id(cell)
        assert row["params"] == params == row["nb101_trainable_parameters"]
        val = [100 * r["validation_accuracy"] for r in runs]
        assert row["c10_val_acc_108ep"] == pytest.approx(np.mean(val))
        assert row["c10_test_acc_108ep"] == pytest.approx(np.mean([100 * r["test_accuracy"] for r in runs]))
        assert [row[f"c10_val_acc_108ep_run{r}"] for r in range(3)] == pytest.approx(val)
        assert row["train_time_108ep_s"] == pytest.approx(np.mean([r["training_time"] for r in runs]))
    assert family.manifest["params_equal_nb101_trainable_parameters"] == len(expected)
    readme = frame[frame["arch_id"] == SPACE.arch_id(Cell(STORED_MATRIX, STORED_OPS))].iloc[0]
    assert readme["params"] == PUBLISHED_PARAMS
    assert family.to_pyg()[0].num_nodes > 0


def test_corrupted_byte_is_refused_with_its_offset(tfrecord, tmp_path):
    path, records, _ = tfrecord
    data = bytearray(path.read_bytes())
    second = 16 + len(records[0])
    data[second + 12 + 20] ^= 0x01   # a byte inside the second record's data
    broken = tmp_path / "corrupted.tfrecord"
    broken.write_bytes(bytes(data))
    with pytest.raises(TFRecordError, match=f"corrupted data of the record at byte {second}"):
        import_families("nb101", broken, progress=False)
    data = bytearray(path.read_bytes())
    data[2] ^= 0x40                   # the first record's length
    broken.write_bytes(bytes(data))
    with pytest.raises(TFRecordError, match="corrupted length header of the record at byte 0"):
        list(read_records(broken))


def test_truncated_file_is_refused_with_its_offset(tfrecord, tmp_path):
    path, records, _ = tfrecord
    data = path.read_bytes()
    last = len(data) - len(frame_record(records[-1]))
    broken = tmp_path / "truncated.tfrecord"
    broken.write_bytes(data[:-7])
    with pytest.raises(TFRecordError, match=f"truncated at byte {len(data) - 7}.*starts at byte {last}"):
        import_families("nb101", broken, progress=False)
    broken.write_bytes(data[:last + 5])
    with pytest.raises(TFRecordError, match="inside the length header"):
        list(read_records(broken))
