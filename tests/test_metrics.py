import numpy as np
from sklearn import metrics as skm

from matsight.training import multilabel_metrics, per_group_means, regression_metrics


def test_multilabel_metrics_equal_scikit_learn():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, (200, 5))
    probabilities = rng.random((200, 5))
    result = multilabel_metrics(labels, probabilities, list("abcde"))
    predicted = probabilities >= 0.5
    for k, name in enumerate("abcde"):
        assert np.isclose(result["per_attribute"][name]["f1"], skm.f1_score(labels[:, k], predicted[:, k]))
        assert np.isclose(
            result["per_attribute"][name]["ap"], skm.average_precision_score(labels[:, k], probabilities[:, k])
        )
    assert np.isclose(result["map"], skm.average_precision_score(labels, probabilities, average="macro"))


def test_regression_and_per_lot_means_known_answer():
    m = regression_metrics([1.0, 2.0, 3.0], [1.0, 2.0, 4.0])
    assert np.isclose(m["mae"], 1 / 3) and np.isclose(m["rmse"], np.sqrt(1 / 3)) and np.isclose(m["r2"], 0.5)
    table = per_group_means(["B", "A", "A"], np.array([5.0, 1.0, 1.0]), np.array([4.0, 0.0, 2.0]))
    assert table["lot"].tolist() == ["A", "B"]
    assert table["predicted_mean"].tolist() == [1.0, 4.0] and table["tiles"].tolist() == [2, 1]
