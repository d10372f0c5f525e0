"""matsight.concepts."""
