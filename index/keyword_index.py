"""The keyword ranking of an index directory: BM25 in tantivy, built at publish next to the rows.

SQLite FTS5 ranks with `bm25()` by scoring every row that shares a word with the query; at 1M
prompts a common word ("portrait", "detailed") matches hundreds of thousands of rows, so one
keyword query took 100–190 ms at p50 and up to a second at p99 (benchmarks/README.md, "Keyword
search at 1M"). tantivy (Rust, Lucene's design) keeps per-block score maxima and skips blocks
that cannot reach the current top k (block-max WAND), so the same query reads a small part of
the postings. FTS5 stays what it is good at: the rows, their filters and the typo vocabulary.

Layout: `<index>/keyword/` holds one tantivy index with the prompt text (word frequencies only,
no positions, nothing stored) and the filter columns as fast fields (`id`, `count`, `width`,
`height`, `prompt_nsfw`, `image_nsfw`; `sampler` as one raw term), so every `SearchFilters`
applies inside the engine and a filtered query is still exact. A missing NSFW score is stored as
-1, which `<= max` keeps, as SQL's `IS NULL OR <=` does. The manifest records the engine, the row
count and each file's size and checksums (`manifest.extra["keyword_index"]`); an index without
that entry (written before it existed) keeps FTS5 ranking.

Words are what FTS5's unicode61 tokenizer calls words (runs of letters and digits), lower-cased,
diacritics folded; the query is an OR of its distinct words without stop words (as `rows.fts_query`),
built term by term, so user text never reaches a query parser.

Deliberately not here: phrase or prefix queries, the typo vocabulary (rows.py), fusion (rag/).
`python -m index.keyword_index INDEX_DIR` (re)builds the keyword index of an existing index.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import IndexLoadError, InputError
from core.files import atomic_write
from index import rows
from index.manifest import MANIFEST_NAME, FileInfo, file_info, fsync_path, quick_sha256, read_manifest
from index.records import SearchFilters

ENGINE = "tantivy"
MANIFEST_KEY = "keyword_index"
DIRECTORY = "keyword"
TOKENIZER = "promptrag_words"
NO_SCORE = -1.0  # a missing NSFW score: "<= max" keeps it, as SQL's "IS NULL OR <= max" does
WRITER_HEAP_BYTES = 256_000_000
MAX_WORD_CHARS = 256
_LOCK_FILES = (".tantivy-meta.lock", ".tantivy-writer.lock")
_COLUMNS = "id, prompt, count, width, height, sampler, prompt_nsfw, image_nsfw"


def _analyzer() -> Any:
    import tantivy

    builder = tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple()).filter(tantivy.Filter.lowercase())
    # Runs of 256+ letters (pasted hashes, base64) are dropped: no one searches for them.
    return builder.filter(tantivy.Filter.ascii_fold()).filter(tantivy.Filter.remove_long(MAX_WORD_CHARS)).build()


def _schema() -> Any:
    import tantivy

    builder = tantivy.SchemaBuilder()
    builder.add_text_field("prompt", tokenizer_name=TOKENIZER, index_option="freq")
    builder.add_unsigned_field("id", fast=True)
    for column in ("count", "width", "height"):
        builder.add_integer_field(column, fast=True)
    for column in ("prompt_nsfw", "image_nsfw"):
        builder.add_float_field(column, fast=True)
    builder.add_text_field("sampler", tokenizer_name="raw", index_option="basic")
    return builder.build()


# ---- building ---------------------------------------------------------------------------------
def build(index_dir: Path) -> dict[str, Any]:
    """Write `<index_dir>/keyword/` from `<index_dir>/rows.sqlite` (finalized); return the
    manifest entry. The files are fsynced; the caller publishes the directory."""
    import tantivy

    target = Path(index_dir) / DIRECTORY
    if target.exists():
        shutil.rmtree(target)
    target.mkdir()
    index = tantivy.Index(_schema(), path=str(target), reuse=False)
    index.register_tokenizer(TOKENIZER, _analyzer())
    writer = index.writer(WRITER_HEAP_BYTES, 1)  # one thread: one segment per 256 MB of text, fewer to search
    conn = rows.open_readonly(Path(index_dir) / "rows.sqlite")
    added = 0
    try:
        for row in conn.execute(f"SELECT {_COLUMNS} FROM prompts ORDER BY id"):
            writer.add_document(_document(tantivy, row))
            added += 1
        writer.commit()
        writer.wait_merging_threads()
    finally:
        conn.close()
    for name in _LOCK_FILES:
        (target / name).unlink(missing_ok=True)
    files = {p.name: file_info(p) for p in sorted(target.iterdir()) if p.is_file()}
    for name in files:
        fsync_path(target / name)
    fsync_path(target)
    return {"engine": ENGINE, "version": _engine_version(), "directory": DIRECTORY, "rows": added,
            "files": {name: vars(info) for name, info in files.items()}}


def _document(tantivy: Any, row: tuple) -> Any:
    id_, prompt, count, width, height, sampler, prompt_nsfw, image_nsfw = row
    doc = tantivy.Document()
    doc.add_unsigned("id", int(id_))
    doc.add_text("prompt", prompt)
    doc.add_integer("count", int(count))
    doc.add_integer("width", -1 if width is None else int(width))
    doc.add_integer("height", -1 if height is None else int(height))
    doc.add_float("prompt_nsfw", NO_SCORE if prompt_nsfw is None else float(prompt_nsfw))
    doc.add_float("image_nsfw", NO_SCORE if image_nsfw is None else float(image_nsfw))
    if sampler is not None:
        doc.add_text("sampler", sampler)
    return doc


def _engine_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tantivy")
    except PackageNotFoundError:
        return "unknown"


def add_to_index(index_dir: Path) -> dict[str, Any]:
    """(Re)build the keyword index of the published index at `index_dir` and record it in its
    manifest: for an index written before keyword indexes existed, or one whose keyword index
    was damaged. Built beside it, swapped in by rename; the manifest is replaced atomically."""
    import stat
    from dataclasses import replace

    index_dir = Path(index_dir)
    manifest = read_manifest(index_dir)
    work = index_dir / f".keyword-build-{uuid.uuid4().hex}"
    work.mkdir()
    try:
        os.link(index_dir / "rows.sqlite", work / "rows.sqlite")  # build() reads it from the same folder
        entry = build(work)
        old = index_dir / DIRECTORY
        backup = index_dir / f".{DIRECTORY}.old-{uuid.uuid4().hex}"
        if old.exists():
            old.rename(backup)
        (work / DIRECTORY).rename(old)
        shutil.rmtree(backup, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    updated = replace(manifest, extra={**manifest.extra, MANIFEST_KEY: entry})
    mode = stat.S_IMODE((index_dir / MANIFEST_NAME).stat().st_mode)
    atomic_write(index_dir / MANIFEST_NAME, updated.to_json())
    os.chmod(index_dir / MANIFEST_NAME, mode)  # atomic_write's temporary file is owner-only
    return entry


# ---- searching --------------------------------------------------------------------------------
@dataclass
class KeywordIndex:
    """An opened keyword index: `search(text, k, filters)` -> [(row id, BM25 score)], best first."""

    path: Path
    _index: Any
    _searcher: Any
    _analyzer: Any
    _schema: Any

    @classmethod
    def open(cls, index_dir: Path, entry: Any, row_count: int) -> KeywordIndex:
        """Open the keyword index the manifest entry describes, after checking its files."""
        path = Path(index_dir) / DIRECTORY
        _check_files(path, entry, row_count)
        import tantivy

        analyzer = _analyzer()
        try:
            index = tantivy.Index.open(str(path))
            index.register_tokenizer(TOKENIZER, analyzer)
            searcher = index.searcher()
        except (ValueError, OSError) as exc:
            raise IndexLoadError(f"the keyword index {path} cannot be opened ({exc}); {REBUILD_KEYWORD}") from None
        if searcher.num_docs != row_count:
            raise IndexLoadError(
                f"the keyword index {path} holds {searcher.num_docs} prompts but the index "
                f"{row_count}; {REBUILD_KEYWORD}"
            )
        return cls(path, index, searcher, analyzer, index.schema)

    def words(self, text: str) -> list[str]:
        """The query's distinct indexed words, stop words dropped unless nothing else is left."""
        words = list(dict.fromkeys(self._analyzer.analyze(text)))
        return ([w for w in words if w not in rows.STOP_WORDS] or words)[: rows.MAX_QUERY_TOKENS]

    def search(self, text: str, k: int, filters: SearchFilters) -> list[tuple[int, float]]:
        import tantivy

        words = self.words(text)
        if not words:
            return []
        query = tantivy.Query.boolean_query(
            [(tantivy.Occur.Should, tantivy.Query.term_query(self._schema, "prompt", w, index_option="freq"))
             for w in words]
        )
        conditions = self._conditions(filters)
        if conditions:
            query = tantivy.Query.boolean_query(
                [(tantivy.Occur.Must, query)]
                + [(tantivy.Occur.Must, tantivy.Query.const_score_query(c, 0.0)) for c in conditions]
            )
        hits = self._searcher.search(query, k, count=False).hits
        ids = self._searcher.fast_field_values("id", [address for _, address in hits])
        # Equal scores (near-duplicate prompts) in id order, as FTS5 returns them.
        return sorted(((int(i), float(score)) for (score, _), i in zip(hits, ids, strict=True)),
                      key=lambda pair: (-pair[1], pair[0]))

    def _conditions(self, filters: SearchFilters) -> list[Any]:
        """SearchFilters as tantivy queries over the fast fields (the same rows as `to_sql`)."""
        import tantivy

        integer, real = tantivy.FieldType.Integer, tantivy.FieldType.Float
        out = []
        if filters.min_count > 1:
            out.append(tantivy.Query.range_query(self._schema, "count", integer, filters.min_count, None))
        for column in ("width", "height"):
            value = getattr(filters, column)
            if value is not None:
                out.append(tantivy.Query.range_query(self._schema, column, integer, value, value))
        if filters.sampler is not None:
            out.append(tantivy.Query.term_query(self._schema, "sampler", filters.sampler, index_option="basic"))
        for column, value in (("prompt_nsfw", filters.max_prompt_nsfw), ("image_nsfw", filters.max_image_nsfw)):
            if value is not None:
                out.append(tantivy.Query.range_query(self._schema, column, real, None, float(value)))
        return out


RANKINGS = ("auto", "fts5")


def open_recorded(index_dir: Path, manifest: Any, ranking: str = "auto") -> KeywordIndex | None:
    """The keyword index the manifest records (ranking "auto"), or None: the index has none
    (written before keyword indexes existed) or `ranking` is "fts5" (SQLite's bm25(), kept to
    compare against); None means FTS5 ranks."""
    if ranking not in RANKINGS:
        raise InputError(f"keyword ranking must be one of {', '.join(RANKINGS)}, got {ranking!r}")
    entry = manifest.extra.get(MANIFEST_KEY) if isinstance(manifest.extra, dict) else None
    if ranking == "fts5" or entry is None:
        return None
    return KeywordIndex.open(index_dir, entry, manifest.row_count)


REBUILD_KEYWORD = (
    "re-run `promptrag ingest`, or rebuild just the keyword index with `python -m index.keyword_index INDEX_DIR`"
)


def _check_files(path: Path, entry: Any, row_count: int) -> None:
    """Every file the manifest lists is there with its size and quick checksum (IndexLoadError if not)."""
    try:
        files = {name: FileInfo(**info) for name, info in entry["files"].items()}
        ok = entry["engine"] == ENGINE and entry["rows"] == row_count and bool(files)
    except (KeyError, TypeError, AttributeError):
        ok, files = False, {}
    if not ok:
        raise IndexLoadError(f"the manifest's keyword index entry is damaged or not {ENGINE}'s; {REBUILD_KEYWORD}")
    if not path.is_dir():
        raise IndexLoadError(f"the index's keyword index {path} is missing; {REBUILD_KEYWORD}")
    for name, info in files.items():
        file = path / name
        if not file.is_file():
            raise IndexLoadError(f"the keyword index file {file} is missing; {REBUILD_KEYWORD}")
        if file.stat().st_size != info.size or quick_sha256(file) != info.quick_sha256:
            raise IndexLoadError(f"the keyword index file {file} does not match its checksum (modified); "
                                 f"{REBUILD_KEYWORD}")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0].startswith("-"):
        print("usage: python -m index.keyword_index INDEX_DIR", file=sys.stderr)
        return 2
    try:
        entry = add_to_index(Path(args[0]).expanduser())
    except IndexLoadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"keyword index ({ENGINE} {entry['version']}) of {entry['rows']} prompts written to "
          f"{Path(args[0]) / DIRECTORY}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
