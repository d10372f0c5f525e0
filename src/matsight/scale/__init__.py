"""matsight.scale."""
