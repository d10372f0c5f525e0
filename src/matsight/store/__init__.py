"""Run folders, manifests, atomic writes and chunked, resumable arrays."""

from matsight.store.atomic import atomic_path, atomic_write_bytes, atomic_write_json, atomic_write_text
from matsight.store.background import BackgroundWriter
from matsight.store.claim import claim_file, claim_folder
from matsight.store.digest import file_digest, files_digest
from matsight.store.manifest import build_manifest, hash_inputs, package_versions
from matsight.store.run import ChunkStore, RunFolder

__all__ = [
    "BackgroundWriter",
    "ChunkStore",
    "RunFolder",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "build_manifest",
    "claim_file",
    "claim_folder",
    "file_digest",
    "files_digest",
    "hash_inputs",
    "package_versions",
]
