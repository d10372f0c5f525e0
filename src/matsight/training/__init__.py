"""matsight.training."""
