"""Labels made by training networks on CIFAR-10: plans of (architecture, seed) units under a declared
recipe (``plan.py``, ``recipe.py``), what one unit trains (``unit.py``, ``train.py``, ``cifar10.py``,
``gpu_loader.py``), run by the work engine (``cgbench.jobs``) on local GPUs or a SLURM cluster, then
collected as label columns of the family (``collect.py``) and spot-checked by retraining
(``verify.py``); ``cli.py`` is ``cgbench label``.
"""
