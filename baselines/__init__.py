"""The reference predictors and how the benchmark runs them.

- the predictors: ``simple.py`` (the FLOPs and parameter rules, GIN), ``gennape/`` (GENNAPE and its two
  ablations), ``graf/`` (GRAF features with boosted trees, and ``graf_anchored``), ``zc_ranker.py``,
  ``ensemble.py`` (``rank_ensemble``); their contract is ``predictor.py``, their registry ``registry.py``
  and the list of them ``predictors.py``; ``training.py`` says how learned ones spend their budget;
- ``zcp/``: the zero-cost proxies, one module per proxy;
- running them: ``protocol.py`` (what each run trains on and predicts, under a protocol), ``benchmark.py``
  (a benchmark as a plan of the work engine), ``report.py`` (the table, the anchors, the plots) and
  ``cli.py`` (``cgbench benchmark``).
"""
