"""The prompt index: embedder, FAISS vectors + SQLite rows + FTS5 keyword search + manifest.

Public API (see each module's docstring):
    PromptRecord, SearchHit, SearchFilters      index.records
    Embedder, SentenceTransformerEmbedder,
    OnnxEmbedder, load_embedder                 index.embedder
    write_export, load_export, add_to_index     index.onnx_export (queries without torch)
    IndexWriter                                 index.writer   (write, then publish by rename)
    PromptIndex                                 index.store    (load, verify, search)
Importing this package loads no model, no FAISS and no index, and none of these modules
either: each name is imported from its module when first used (PEP 562 `__getattr__`), so
`import index.records` or `index.manifest` costs no numpy (the CLI imports them at start-up).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from index.embedder import Embedder, OnnxEmbedder, SentenceTransformerEmbedder, load_embedder
    from index.manifest import FORMAT_VERSION, Manifest
    from index.records import PromptRecord, SearchFilters, SearchHit
    from index.store import PromptIndex
    from index.writer import IndexWriter

_HOMES = {
    "FORMAT_VERSION": "index.manifest",
    "Embedder": "index.embedder",
    "IndexWriter": "index.writer",
    "Manifest": "index.manifest",
    "OnnxEmbedder": "index.embedder",
    "PromptIndex": "index.store",
    "PromptRecord": "index.records",
    "SearchFilters": "index.records",
    "SearchHit": "index.records",
    "SentenceTransformerEmbedder": "index.embedder",
    "load_embedder": "index.embedder",
}
__all__ = [  # the names of _HOMES, spelled out for linters and `from index import *`
    "FORMAT_VERSION",
    "Embedder",
    "IndexWriter",
    "Manifest",
    "OnnxEmbedder",
    "PromptIndex",
    "PromptRecord",
    "SearchFilters",
    "SearchHit",
    "SentenceTransformerEmbedder",
    "load_embedder",
]


def __getattr__(name: str) -> object:
    """`index.PromptIndex` and `from index import PromptIndex`: the name from its module."""
    home = _HOMES.get(name)
    if home is None:  # a submodule (`from index import rows`) is imported by the import system itself
        raise AttributeError(f"module 'index' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value
