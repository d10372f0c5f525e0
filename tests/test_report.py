import pandas as pd

from matsight.report import Section, build_report, save_figure, write_section
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
