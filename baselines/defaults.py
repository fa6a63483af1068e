"""The benchmark protocol's defaults, importable without torch, numpy or any family code.

``baselines.protocol`` defines what they mean (the tracks themselves are ``cgbench.tasks``); the
``cgbench benchmark`` parser shows them in its help, and building a parser must stay fast
(``cgbench --help``).
"""

# Every labelled family buildable without user files, but the model zoos (minutes to an hour to build).
DEFAULT_FAMILIES = ("nb201", "nb101", "nasbench_macro", "ofa_mbv3", "tnb101_micro", "tnb101_macro", "nb301", "fbnet")
# The main job (`make run`) must finish in 10 minutes on two CPU cores: the rankers and GRAF do
# (measured: about 4 min of cold builds plus 4 min of runs); GIN and GENNAPE train a graph network
# for each of their 285 runs (over 25 minutes for GIN alone), so they belong to the full protocol.
DEFAULT_METHODS = ("flops", "params", "graf")
# zc_ranker scores every test row with its proxies (seconds per network on a CPU: hours for the
# default families on two cores), so only the full protocol runs it by default; GENNAPE without its
# FLOPs transform and its head alone show how much of GENNAPE's score is the FLOPs prior;
# graf_anchored refits its trees once per inner held-out family (8x graf's cost on leave-one-out);
# rank_ensemble fits graf, graf_anchored and zc_ranker again (their cost added up).
# device_embedding scores latency columns only (fbnet in_family and the device-transfer tracks).
FULL_METHODS = (*DEFAULT_METHODS, "gin", "gennape", "graf_anchored", "gennape_notf", "gennape_head", "zc_ranker",
                "device_embedding", "rank_ensemble")
QUICK_TRAIN_CAP = 300
# One intra-op thread: on two shared cores torch's default thread count trains ~10x slower.
QUICK_TORCH_THREADS = 1

# Fewer steps than even the predictors' CPU-friendly defaults, so that 5 seeds of every track fit in
# the main job's minutes; the reference protocol gives each learned predictor a converged budget.
QUICK_PREDICTOR_OPTIONS: dict[str, dict] = {
    "gin": {"epochs": 10},
    "gennape": {"pretrain_epochs": 2, "epochs": 8, "fine_tune_epochs": 50},
    "gennape_notf": {"pretrain_epochs": 2, "epochs": 8, "fine_tune_epochs": 50},
    "gennape_head": {"pretrain_epochs": 2, "epochs": 8, "fine_tune_epochs": 50},
}
# Chosen from benchmarks/convergence.py (300 training rows, 4,000 steps, seeds 0-2; in-family NB-201,
# NB-101, NAS-Bench-Macro, OFA-MBv3 and leave-one-out NB-201): every in-family mean validation curve of
# gin, gennape and gennape_notf is within 0.005 of its best by 2,900 steps, and the test Spearman at the
# step that 3,000 steps with a patience of 10 checks (1,000 steps) keep is within 0.006 of what 4,000
# steps keep, at about 80% of the cost. Leave-one-out curves keep rising on the source families'
# validation rows while the held-out family's test falls (it overfits the sources): more steps would
# not help there. graf (25-125 trees of 400) and zc_ranker (25-750 steps of 300-1,000, flat within
# 0.01 throughout) converge inside their defaults.
REFERENCE_GRAPH_BUDGET = {"max_steps": 3000, "eval_every": 100, "patience": 10}
REFERENCE_PREDICTOR_OPTIONS: dict[str, dict] = {
    "gin": dict(REFERENCE_GRAPH_BUDGET),
    **{name: {**REFERENCE_GRAPH_BUDGET, "pretrain_steps": 300, "fine_tune_epochs": 100}
       for name in ("gennape", "gennape_notf", "gennape_head")},
}
