"""The prompt index: embedder, FAISS vectors + SQLite rows + FTS5 keyword search + manifest.

Public API (see each module's docstring):
    PromptRecord, SearchHit, SearchFilters      index.records
    Embedder, SentenceTransformerEmbedder,
    OnnxEmbedder, load_embedder                 index.embedder
    write_export, load_export, add_to_index     index.onnx_export (queries without torch)
    IndexWriter                                 index.writer   (write, then publish by rename)
    PromptIndex                                 index.store    (load, verify, search)
Importing this package loads no model, no FAISS and no index.
"""

from index.embedder import Embedder, OnnxEmbedder, SentenceTransformerEmbedder, load_embedder
from index.manifest import FORMAT_VERSION, Manifest
from index.records import PromptRecord, SearchFilters, SearchHit
from index.store import PromptIndex
from index.writer import IndexWriter

__all__ = [
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
