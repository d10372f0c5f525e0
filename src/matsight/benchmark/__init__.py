"""matsight.benchmark: explanation methods scored against the causes the generators planted.

``run(BenchmarkConfig(out=..., preset="quick"))`` draws four tasks — (a) pit count of
an SEM tile, (b) CPS of an SEM lot, (c) x-ray tags, (d) crystal classes — trains a small model per
task and seed (or reuses it from the cache), explains held-out images with every matsight method,
the same methods from pytorch-grad-cam, torchcam, captum and zennit, and three baselines, and
writes ``tables/leaderboard.csv`` (task, method, library, metric, mean, sd, n), a figure, the
verdict on each task's default method and a report section.
"""

from matsight.benchmark.config import PRESETS, TASK_NAMES, BenchmarkConfig
from matsight.benchmark.runner import run

__all__ = ["PRESETS", "TASK_NAMES", "BenchmarkConfig", "run"]
