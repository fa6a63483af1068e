"""Zero-cost proxies: one module per proxy, registered by name, scored under a declared recipe.

A proxy is a function ``score(net, batch, recipe) -> float`` (larger = predicted better). Its module
registers it with ``baselines.zcp.registry.register_proxy`` together with its default
:class:`~baselines.zcp.recipe.ProxyRecipe`; ``baselines.zcp.proxies`` lists every proxy module and
looks proxies up by name (``get_proxy``, ``list_proxies``). ``baselines.zcp.scoring`` runs proxies over
a family and stores the scores with their recipe; ``baselines.zcp.plan`` does it as a plan of the
work engine. This package imports nothing itself, so ``cgbench zcp`` registers its command without
importing torch.
"""
