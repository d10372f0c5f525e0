"""The demo's agreement lines: a disagreement with the generator's ground truth is shown as one."""

from __future__ import annotations

import numpy as np

from matsight.report.agreement import CLASS_AGREEMENT, class_agreement, tag_agreement


def test_tags_that_match_the_generator_agree_and_a_constant_tag_disagrees():
    rng = np.random.default_rng(0)
    labels = (rng.random((200, 3)) < 0.4).astype(int)
    probs = np.where(labels == 1, 0.9, 0.1).astype(float)
    good = tag_agreement(labels, probs, ["Ring", "Halo", "BCC"])
    assert good.agrees and good.scores == {"Ring": 1.0, "Halo": 1.0, "BCC": 1.0}
    assert "agrees" in good.console_line() and "DISAGREES" not in good.console_line()
    probs[:, 1] = 0.1  # the tagger never predicts Halo: balanced accuracy 0.5
    bad = tag_agreement(labels, probs, ["Ring", "Halo", "BCC"])
    assert not bad.agrees and bad.disagreeing == ["Halo"] and bad.scores["Halo"] == 0.5
    assert "DISAGREES" in bad.console_line() and "Halo 0.50" in bad.console_line()
    assert "disagrees" in bad.report_text() and "not findings" in bad.report_text()


def test_tags_absent_from_the_held_out_images_are_not_judged():
    labels = np.array([[1, 0], [0, 0], [1, 0]])
    agreement = tag_agreement(labels, labels.astype(float), ["Ring", "Wedge beamstop"])
    assert list(agreement.scores) == ["Ring"] and agreement.agrees


def test_class_recall_below_the_threshold_is_a_disagreement_and_names_stay_text():
    labels = np.repeat(np.arange(3), 10)
    predicted = labels.copy()
    predicted[20:23] = 0  # class 2 recall 0.7
    agreement = class_agreement(labels, predicted, ["a<b", "fcc", "bcc"])
    assert agreement.scores == {"a<b": 1.0, "fcc": 1.0, "bcc": 0.7} and 0.7 < CLASS_AGREEMENT
    assert agreement.disagreeing == ["bcc"] and "bcc 0.70" in agreement.report_text()
    agreement = class_agreement(labels, np.ones_like(labels), ["a<b", "fcc", "bcc"])  # everything called fcc
    assert "a<b 0.00" in agreement.report_text()  # plain text: the report's Jinja2 autoescaping escapes it once
    from matsight.report.html import prose

    assert "a&lt;b 0.00" in prose(agreement.report_text()) and "&amp;lt;" not in prose(agreement.report_text())
