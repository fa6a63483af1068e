"""What every view of a family says about itself: column meanings and units, sources, licences, citation.

One place for the words that travel with the data: the Parquet files' field and schema metadata
(``annotate_table``), the HDF5 export's attributes, the Hugging Face ``DatasetInfo`` and the PyG
dataset's attributes all read them from here and from the family's manifest (label columns carry
their own unit, split, epochs, source and licence: ``cgbench.families.base.LabelColumn``).
"""

from __future__ import annotations

import json

import pyarrow as pa

from .graph.model import ATTR_FIELDS, SHAPE_FIELDS
from .graph.vocab import CG_FORMAT_VERSION

# Keep in step with CITATION.cff at the top of the repository (a test compares them).
CITATION = """@misc{cgbench,
  title  = {cgbench: a benchmark for neural-architecture performance predictors on unified computation graphs},
  author = {{cgbench contributors}},
  year   = {2026},
  note   = {Software and data, version 0.1.0}
}
@inproceedings{mills2023gennape,
  title     = {{GENNAPE}: Towards Generalized Neural Architecture Performance Estimators},
  author    = {Mills, Keith G. and Han, Fred X. and Zhang, Jialin and Chudak, Fabian and Safari Mamaghani, Ali
               and Salameh, Mohammad and Lu, Wei and Jui, Shangling and Niu, Di},
  booktitle = {Proceedings of the AAAI Conference on Artificial Intelligence},
  volume    = {37},
  number    = {8},
  year      = {2023},
  doi       = {10.1609/aaai.v37i8.26102}
}"""
CODE_LICENCE = "Apache-2.0"

# Every family table has these columns (``cgbench.families.base.assemble_table``): (meaning, unit).
COLUMNS: dict[str, tuple[str, str]] = {
    "arch_id": ("canonical string of the architecture in its search space (or the model's name in a zoo)", ""),
    "config": ("the architecture's configuration as JSON", ""),
    "node_op": (f"per node: op id, an index into cgbench.graph.OPS ({CG_FORMAT_VERSION})", "op id"),
    "node_shape": (f"per node: ({', '.join(SHAPE_FIELDS)}); 'in' is the first activation operand",
                   "pixels (h, w), channels (c)"),
    "node_attr": (f"per node: ({', '.join(ATTR_FIELDS)}); zero for ops without a window or weight", "count"),
    "edge_src": ("per edge: producer node index (graph-local; edges run from lower to higher index)", "node index"),
    "edge_dst": ("per edge: consumer node index (graph-local)", "node index"),
    "n_nodes": ("nodes in the CG", "count"),
    "n_edges": ("edges in the CG", "count"),
    "wl_hash": ("isomorphism-invariant canonical hash of the CG (equal for isomorphic CGs)", "hex digest"),
    "flops": ("FLOPs of one forward pass at the family's input size, torch's counter", "FLOPs (2 per multiply-add)"),
    "params": ("parameters of the network", "count"),
}
PARQUET_KEY = b"cgbench"


def column_docs(manifest: dict, column_names: list[str]) -> dict[str, dict[str, str]]:
    """Meaning and unit of every column: standard ones, label columns (from the manifest), the rest."""
    docs = {}
    for name in column_names:
        label = manifest["labels"].get(name)
        if label is not None:
            docs[name] = {"description": _label_text(label), "unit": label["unit"]}
        elif name in COLUMNS:
            docs[name] = {"description": COLUMNS[name][0], "unit": COLUMNS[name][1]}
        else:
            docs[name] = {"description": f"{manifest['family']}-specific column (see DATASHEET.md)", "unit": ""}
    return docs


def _label_text(label: dict) -> str:
    epochs = f", {label['epochs']} epochs" if label.get("epochs") is not None else ""
    return (f"{label['description']} [{label['dataset']}, {label['split']}{epochs}; {label['seeds']}; "
            f"source {label['source_id']}, licence {label['licence']}]")


def licence_summary(manifest: dict) -> str:
    """The licences of a family's raw sources and labels, and of cgbench itself."""
    by_licence: dict[str, set[str]] = {}
    for source in manifest.get("sources", []):
        by_licence.setdefault(source["licence"], set()).add(source["source_id"])
    for label in manifest["labels"].values():
        by_licence.setdefault(label["licence"], set()).add(label["source_id"])
    parts = [f"{licence} ({', '.join(sorted(ids))})" for licence, ids in sorted(by_licence.items())]
    return f"cgbench code and CG encoding {CODE_LICENCE}; data: " + ("; ".join(parts) or "no external sources")


def family_metadata(manifest: dict, column_names: list[str]) -> dict:
    """The schema-level record every file of a family carries (JSON in Parquet, attributes in HDF5)."""
    return {
        "family": manifest["family"], "version": manifest["version"], "description": manifest["description"],
        "cg_format": manifest.get("cg_format", CG_FORMAT_VERSION), "default_target": manifest["default_target"],
        "units": {name: doc["unit"] for name, doc in column_docs(manifest, column_names).items()},
        "sources": manifest.get("sources", []), "licence": licence_summary(manifest), "citation": CITATION,
    }


def annotate_table(table: pa.Table, manifest: dict) -> pa.Table:
    """``table`` with each field's meaning and unit as field metadata and the family record as schema metadata."""
    docs = column_docs(manifest, table.column_names)
    fields = [field.with_metadata({b"description": docs[field.name]["description"].encode(),
                                   b"unit": docs[field.name]["unit"].encode()}) for field in table.schema]
    record = json.dumps(family_metadata(manifest, table.column_names), sort_keys=True).encode()
    return pa.Table.from_arrays(table.columns, schema=pa.schema(fields, metadata={PARQUET_KEY: record}))


def dataset_description(manifest: dict, column_names: list[str]) -> str:
    """A readable card: what the family is, its default target, every column with meaning and unit."""
    lines = [f"{manifest['family']} v{manifest['version']} ({manifest.get('cg_format', CG_FORMAT_VERSION)}): "
             f"{manifest['description']}", f"Default target: {manifest['default_target']}.", "Columns:"]
    for name, doc in column_docs(manifest, column_names).items():
        unit = f" [{doc['unit']}]" if doc["unit"] else ""
        lines.append(f"- {name}{unit}: {doc['description']}")
    sources = [f"{s['source_id']}/{s['file']} <{s['url']}> sha256 {s['sha256']}" for s in manifest.get("sources", [])]
    lines.append("Sources: " + ("; ".join(sources) or "none (built from the search space)"))
    lines.append(f"Licences: {licence_summary(manifest)}.")
    return "\n".join(lines)
