"""matsight.knobs."""
