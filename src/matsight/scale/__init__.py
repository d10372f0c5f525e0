"""Scale-out: the same batch extraction in-process or on a Ray cluster (see engine.py)."""

from matsight.scale.engine import ENGINES, LOCAL, Engine, chunk_indices, chunk_store, pending_chunks, run_chunks

__all__ = ["ENGINES", "LOCAL", "Engine", "chunk_indices", "chunk_store", "pending_chunks", "run_chunks"]
