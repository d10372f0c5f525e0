"""Scale-out: the same batch extraction in-process or on a Ray cluster (see engine.py)."""

from matsight.scale.engine import ENGINES, chunk_indices, pending_chunks, run_chunks

__all__ = ["ENGINES", "chunk_indices", "pending_chunks", "run_chunks"]
