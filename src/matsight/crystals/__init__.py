"""matsight.crystals."""
