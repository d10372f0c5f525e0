from html.parser import HTMLParser

import pandas as pd

from matsight.report import Section, build_report, build_study_report, save_figure, write_section
from matsight.store import RunFolder


def test_report_is_self_contained_and_ordered(tmp_path):
    import matplotlib.pyplot as plt

    run = RunFolder(tmp_path / "run")
    run.start("train", {}, seed=0)
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    save_figure(fig, run.figure_path("curve.png"))
    run.write_table("scores", pd.DataFrame({"texture": ["pitted"], "score": [0.9]}))
    other = RunFolder(tmp_path / "other")
    write_section(other.path, Section(key="textures", title="Texture concepts", order=30))
    write_section(
        run.path,
        Section(
            key="training",
            title="Training",
            order=10,
            figures=["figures/curve.png"],
            tables=["tables/scores.csv"],
            metrics={"R2": 0.91},
        ),
    )
    html = build_report(run.path, extra_runs=[other.path]).read_text()
    assert html.index("Training") < html.index("Texture concepts")
    assert "data:image/png;base64," in html and "pitted" in html and "0.91" in html
    assert "manifest of" in html and "http" not in html.split("<body>")[1].split("Reproducibility")[0]


HOSTILE = '<img src=x onerror="alert(1)">'


class _Tags(HTMLParser):
    """Every start tag and its attributes."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_hostile_names_in_a_run_folder_stay_text(tmp_path):
    """A data folder, lot, column and section text with markup in their names: escaped, nothing executable."""
    import matplotlib.pyplot as plt

    run = RunFolder(tmp_path / f"run {HOSTILE}")
    run.start("train", {"data": f"/data/{HOSTILE}"}, seed=0)
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    save_figure(fig, run.figure_path("curve.png"))
    run.write_table("per_lot", pd.DataFrame({"lot": [HOSTILE, "B"], HOSTILE: [1.0, 2.0]}))
    write_section(
        run.path,
        Section(
            key="training",
            title=f"Training: {HOSTILE}",
            text=f"A model trained on `{HOSTILE}` for 3 epochs <script>alert(2)</script>.",
            figures=["figures/curve.png", "../../../etc/passwd", "figures/missing.png"],
            tables=["tables/per_lot.csv"],
            metrics={HOSTILE: 0.5, "lot": HOSTILE},
        ),
    )
    page = build_study_report([run.path], out=tmp_path / "report.html").read_text()
    tags = _parse(page)
    assert not any(name.startswith("on") for _, attrs in tags for name in attrs)
    assert [attrs["src"][:22] for tag, attrs in tags if tag == "img"] == ["data:image/png;base64,"]
    assert not any(tag == "script" for tag, _ in tags)
    assert "&lt;img src=x onerror=" in page and "&lt;script&gt;alert(2)&lt;/script&gt;" in page
    assert "<code>&lt;img src=x" in page  # back-quoted text is code, still escaped
    assert "outside the run folder" in page  # and (above) the one image embedded is the run's own figure


def test_study_report_merges_runs_in_a_fixed_order_without_collisions(tmp_path):
    from matsight.cli.main import run as cli

    runs = []
    for name, command, key, order, metric in (
        ("saliency-a", "saliency", "saliency", 20, {}),
        ("train-1", "train", "training", 10, {"held-out R²": 0.91}),
        ("saliency-b", "saliency", "saliency", 20, {}),
    ):
        run = RunFolder(tmp_path / name)
        run.start(command, {})
        write_section(run.path, Section(key=key, title=f"{command} of {name}", order=order, metrics=metric))
        run.set_status("finished")
        runs.append(run.path)
    out = tmp_path / "study.html"
    assert cli(["report", *map(str, runs), "--out", str(out), "--title", "Porous lots, batch 7"]) == 0
    page = out.read_text()
    assert "<title>Porous lots, batch 7</title>" in page and "<h1>Porous lots, batch 7</h1>" in page
    # fixed order: training first, then the two saliency runs in the order given; anchors do not collide
    assert page.index("train of train-1") < page.index("saliency of saliency-a") < page.index("saliency of saliency-b")
    anchors = [attrs["id"] for tag, attrs in _parse(page) if tag == "h2" and "id" in attrs]
    assert len(anchors) == len(set(anchors)) and {"run1-saliency", "run3-saliency", "run2-training"} <= set(anchors)
    summary = page.split('class="summary"')[1].split("</table>")[0]
    assert summary.count("<tr>") == 4 and "held-out R²: 0.91" in summary and summary.count("finished") == 3
    assert cli(["report", *map(str, runs), "--out", str(out)]) == 2  # an existing file needs --overwrite
    assert cli(["report", str(runs[0]), "--out", str(out), "--overwrite"]) == 0


def _parse(page: str) -> list[tuple[str, dict]]:
    parser = _Tags()
    parser.feed(page)
    return parser.tags
