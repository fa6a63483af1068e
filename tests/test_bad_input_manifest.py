"""Class 3 of the hostile-input issue: the manifest is not trusted beyond what it may say.

A manifest must describe the family it is loaded as (name, version, row count) and list exactly its
two data files by plain name; anything else is a FamilyIntegrityError naming the manifest and the
command that rebuilds the family. A killed write leaves temporary files that the next write
removes, and a rebuild racing readers (real processes) never shows them a family that is not
wholly the old one or the new one.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cgbench.dataset import Family, family_folder, load_family, store_family
from cgbench.families import family_spec
from cgbench.sources import sha256_of
from cgbench.storage import FamilyIntegrityError

REBUILD = "run `cgbench build nb101 --force`"
TARGET = "c10_val_acc_108ep"


@pytest.fixture(scope="module")
def nb101(cgbench_home):
    return load_family("nb101", progress=False)


@pytest.fixture
def copy(nb101, tmp_path):
    """A copy of nb101's build folder and a function that rewrites fields of its manifest."""
    folder = tmp_path / "nb101"
    shutil.copytree(nb101.folder, folder)

    def edit(**changes):
        manifest = json.loads((folder / "manifest.json").read_text())
        manifest.update(changes)
        (folder / "manifest.json").write_text(json.dumps({k: v for k, v in manifest.items() if v is not None}))

    return folder, edit


def load(folder, name="nb101"):
    return Family.from_folder(family_spec(name), folder)


def test_a_manifest_listing_other_files_is_refused_even_with_their_sha256(copy):
    folder, edit = copy
    five_rows = folder / "five.parquet"
    pq.write_table(pq.read_table(folder / "data.parquet").slice(0, 5), five_rows)
    edit(files={"five.parquet": sha256_of(five_rows), "splits.parquet": sha256_of(folder / "splits.parquet")})
    with pytest.raises(FamilyIntegrityError, match=(
            r"manifest.json must list exactly the family's files \['data.parquet', 'splits.parquet'\], but lists "
            rf"\['five.parquet', 'splits.parquet'\]; {REBUILD}")):
        load(folder)
    outside = folder.parent / "elsewhere.parquet"
    shutil.copyfile(folder / "data.parquet", outside)
    edit(files={name: sha256_of(folder / name) for name in ("data.parquet", "splits.parquet")}
         | {"../elsewhere.parquet": sha256_of(outside)})
    with pytest.raises(FamilyIntegrityError, match=r"but lists \['../elsewhere.parquet', 'data.parquet'"):
        load(folder)


@pytest.mark.parametrize("changes, message", [
    ({"files": None}, r"lacks the key\(s\) \['files'\]"),
    ({"n_archs": None, "splits": None}, r"lacks the key\(s\) \['n_archs', 'splits'\]"),
    ({"files": {}}, r"must list exactly the family's files \['data.parquet', 'splits.parquet'\], but lists \[\]"),
    ({"files": []}, r"but lists \[\]"),
    ({"files": {"data.parquet": "00", "splits.parquet": "11"}}, r"records no valid sha256 for \['data.parquet', "),
    ({"family": "nb201"}, "describes 'nb201' version '1.0', not 'nb101' version '1.0'"),
    ({"version": "0.9"}, "describes 'nb101' version '0.9', not 'nb101' version '1.0'"),
    ({"n_archs": "500"}, "records n_archs = '500', not a row count"),
    ({"n_archs": 5}, "data.parquet has 500 rows but its manifest records 5"),
])
def test_manifest_fields_must_describe_the_family(copy, changes, message):
    folder, edit = copy
    edit(**changes)
    with pytest.raises(FamilyIntegrityError, match=f"{message}.*; {REBUILD}"):
        load(folder)


@pytest.mark.parametrize("text, message", [
    ("[1, 2]", "is not a JSON object but list"),
    ('{"family": ', "not valid JSON"),
    ("[" * 1000 + "]" * 1000, "JSON nested 1000 levels deep"),
    ("\x00\x01", "is binary"),
])
def test_an_unreadable_manifest_names_itself_and_the_rebuild(copy, text, message):
    folder, _ = copy
    (folder / "manifest.json").write_text(text)
    with pytest.raises(FamilyIntegrityError, match=f"manifest.json.*{message}.*{REBUILD}"):
        load(folder)


def test_an_imported_family_names_its_import_command(copy):
    folder, _ = copy
    with pytest.raises(FamilyIntegrityError, match=r"describes 'nb101' version '1.0', not 'nb101_full' version '1.0'; "
                                                   r"run `cgbench import nb101 PATH/nasbench_only108.tfrecord`"):
        load(folder, "nb101_full")


@pytest.fixture
def private_home(nb101, tmp_path, monkeypatch):
    """A CGBENCH_HOME of its own holding a copy of nb101's build, so writes do not touch the session's."""
    home = tmp_path / "home"
    shutil.copytree(nb101.folder, home / "families" / "nb101" / "1.0")
    monkeypatch.setenv("CGBENCH_HOME", str(home))
    return home


def test_a_killed_write_leaves_the_old_build_and_the_next_write_cleans_up(nb101, private_home):
    folder = family_folder(nb101.spec)
    before = (folder / "manifest.json").read_text()
    # The writer is killed (SIGKILL) after staging its data files, before it swaps them in.
    script = textwrap.dedent("""
        import os, signal
        import cgbench.storage
        from cgbench.dataset import load_family, store_family
        family = load_family("nb101", progress=False)
        cgbench.storage.sha256_of = lambda path: os.kill(os.getpid(), signal.SIGKILL)
        store_family(family.spec, family.table)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=600)
    assert result.returncode == -signal.SIGKILL, result.stderr.decode()[-2000:]
    orphans = sorted(p.name.split(".tmp")[0].rsplit(".", 1)[0] for p in folder.glob(".*.tmp"))
    assert orphans == [".data.parquet", ".splits.parquet"]
    assert (folder / "manifest.json").read_text() == before
    assert len(load_family("nb101", progress=False)) == 500  # the old build, intact

    store_family(nb101.spec, nb101.table)
    assert list(folder.glob(".*.tmp")) == []
    assert len(load_family("nb101", progress=False)) == 500


def test_a_rebuild_racing_readers_shows_them_the_old_or_the_new_family(nb101, private_home, tmp_path):
    labels = nb101.table.column(TARGET).to_numpy(zero_copy_only=False)
    shifted = nb101.table.set_column(nb101.table.column_names.index(TARGET), TARGET, pa.array(labels + 1.0))
    versions = [tmp_path / "old.parquet", tmp_path / "new.parquet"]
    for path, table in zip(versions, (nb101.table, shifted)):
        pq.write_table(table, path)
    sums = [round(float(np.nansum(labels)), 3), round(float(np.nansum(labels + 1.0)), 3)]
    done, ready = tmp_path / "writer-done", tmp_path / "ready"
    ready.mkdir()
    # The writer starts rewriting once every reader is reading, and rewrites twenty times.
    writer = textwrap.dedent(f"""
        import os, time
        import pyarrow.parquet as pq
        from cgbench.dataset import store_family
        from cgbench.families import family_spec
        tables = [pq.read_table(p) for p in {[str(p) for p in versions]!r}]
        while len(os.listdir({str(ready)!r})) < 3:
            time.sleep(0.05)
        for i in range(20):
            store_family(family_spec("nb101"), tables[(i + 1) % 2])
        open({str(done)!r}, "w").close()
    """)
    # A reader reads the folder as it is (load_family would rebuild a folder it finds without a manifest).
    reader = textwrap.dedent(f"""
        import os
        import numpy as np
        from cgbench.dataset import Family, family_folder
        from cgbench.families import family_spec
        spec = family_spec("nb101")
        seen = []
        while not os.path.exists({str(done)!r}) or len(seen) < 3:
            family = Family.from_folder(spec, family_folder(spec))
            total = round(float(np.nansum(family.labels({TARGET!r}))), 3)
            assert len(family) == 500 and total in {sums!r}, (len(family), total)
            seen.append(total)
            open(os.path.join({str(ready)!r}, str(os.getpid())), "w").close()
        print(len(seen), len(set(seen)))
    """)
    env = {**os.environ, "CGBENCH_HOME": str(private_home)}
    readers = [subprocess.Popen([sys.executable, "-c", reader], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(3)]
    written = subprocess.run([sys.executable, "-c", writer], env=env, capture_output=True, text=True, timeout=900)
    outcomes = [r.communicate(timeout=900) for r in readers]
    assert written.returncode == 0, written.stderr[-2000:]
    for reader_process, (out, err) in zip(readers, outcomes):
        assert reader_process.returncode == 0, err[-2000:]
        loads, distinct = map(int, out.split())
        assert loads >= 3
    # The readers overlapped the rewrites: between them they saw both versions.
    assert any(int(out.split()[1]) == 2 for out, _ in outcomes)
