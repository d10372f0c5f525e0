"""matsight.synth."""
