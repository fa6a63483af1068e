"""The work engine: long work as plans of units that any number of workers, here or on a SLURM
cluster, run to one result each.

- :mod:`~cgbench.jobs.plan`: a plan folder (``plan.parquet``: units under stable ids) of a registered
  kind; the kind says what a unit does (``cgbench.plan_kinds`` entry points: labelling trainings,
  zero-cost scoring, benchmark runs, function calls).
- :mod:`~cgbench.jobs.store`: the result store: atomic publish, one winner per unit, failure records,
  status.
- :mod:`~cgbench.jobs.worker`: the worker loop (``python -m cgbench.jobs.worker PLAN``).
- :mod:`~cgbench.jobs.backends`: ``local`` (worker processes, N on the CPU or per GPU) and
  ``submitit`` (a SLURM job array).
- :mod:`~cgbench.jobs.calls`: plans of plain function calls (:func:`run_callables`), for studies.

Import from the submodules (this package imports nothing, so that ``cgbench --help`` stays fast).
Resumable by construction: relaunching a plan runs only the units without a result, and a unit's
result does not depend on which worker, backend or process ran it.
"""
