"""The benchmark protocol's names and defaults, importable without torch or any family code.

``baselines.protocol`` defines what they mean; the ``cgbench benchmark`` parser shows them in its
help, and building a parser must stay fast (``cgbench --help``).
"""

TRACKS = ("in_family", "zero_shot", "few_shot")
DEFAULT_SEEDS = (0, 1, 2, 3, 4)
DEFAULT_FAMILIES = ("nb201", "nb101", "nasbench_macro", "ofa_mbv3", "tnb101_micro")
DEFAULT_SOURCE = "nb101"
DEFAULT_METHODS = ("flops", "params", "gin", "gennape")
# zc_ranker scores every test row with four proxies (seconds per network on a CPU: hours for the
# default families on two cores), so only the full protocol runs it by default.
FULL_METHODS = (*DEFAULT_METHODS, "zc_ranker")
QUICK_TRAIN_CAP = 300
# One intra-op thread: on two shared cores torch's default thread count trains ~10x slower.
QUICK_TORCH_THREADS = 1
