"""The walk of ``load_family(name)`` on a cold and on a warm cache: which rooms it enters, how often,
which files it hashes, and how long it takes.

A "room" is one of the functions a load passes through on its way from a name to a family (resolving
the spec and the folder, checking a build, writing and verifying it, merging collected labels); each
count is how many times the walk entered it. Hashes are counted per file (sha256 over its bytes).
The cold walk builds the family from its raw files in a fresh ``CGBENCH_HOME`` (the raw files
come from ``CGBENCH_MIRROR``); the warm walk loads it again in a new process.

Run: ``CGBENCH_MIRROR=../shared/data .venv/bin/python benchmarks/walk_load_family.py nb201``
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import subprocess
import sys
import tempfile
import time

ROOMS = ("family_spec", "family_folder", "cgbench_home", "is_built", "_build", "_construct", "store_family",
         "write_family", "read_manifest", "verify_family", "is_stale", "collected_fingerprint", "merged_fingerprint",
         "merge_collected", "read", "from_folder", "read_parquet")


def walk(name: str) -> None:
    """One load in this process: its wall time, room counts and hashed files, printed."""
    from cgbench import load_family, sources

    hashed: list[str] = []
    original = sources.sha256_of

    def counting_sha256(path, *args, **kwargs):
        hashed.append(os.path.basename(str(path)))
        return original(path, *args, **kwargs)

    for module in [m for m in list(sys.modules.values()) if getattr(m, "sha256_of", None) is original]:
        module.sha256_of = counting_sha256
    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.enable()
    load_family(name, progress=False)
    profile.disable()
    seconds = time.perf_counter() - started
    stats = pstats.Stats(profile).stats
    counts = {}
    for (file, _, function), (calls, *_rest) in stats.items():
        if function in ROOMS and "/cgbench/" in file:
            counts[f"{os.path.basename(file)}:{function}"] = counts.get(f"{os.path.basename(file)}:{function}", 0) + calls
    print(f"  {seconds:.1f} s; rooms entered: " + ", ".join(f"{k} x{v}" for k, v in sorted(counts.items())))
    files = {f: hashed.count(f) for f in sorted(set(hashed))}
    print(f"  files hashed: {len(hashed)} ({', '.join(f'{f} x{n}' for f, n in files.items()) or 'none'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("family", nargs="?", default="nb201")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # a single walk, in a child process
    args = parser.parse_args()
    if args.one:
        walk(args.family)
        return
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "CGBENCH_HOME": home}
        for what in ("cold (builds it)", "warm (reads it)"):
            print(f"load_family({args.family!r}), {what}:", flush=True)
            subprocess.run([sys.executable, __file__, args.family, "--one"], env=env, check=True)


if __name__ == "__main__":
    main()
