"""matsight.saliency."""
