"""Readers of the upstream file formats cgbench builds families from, one module per format.

Each returns plain records, arrays or tables and knows nothing of the families (a family module maps
them to its rows); binary formats are read without their frameworks (no TensorFlow, no protoc) and
pickles through the restricted unpickler (:mod:`cgbench.safe_pickle`).
"""
