"""matsight.analytics."""
