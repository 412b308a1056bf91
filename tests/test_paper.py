from landmarklib.evaluation.results import METHODS
from landmarklib.paper import paper_values


def test_fig2_has_every_method_and_landmark():
    fig2 = paper_values("fig2")
    assert set(fig2["method"]) == set(METHODS)
    assert len(fig2) == 6 * 5 + 6 * 9
    cnn_ft_thumb = fig2.query("task == 'hand' and method == 'CNN(ft)' and landmark == 'thumb'")["value"]
    assert cnn_ft_thumb.item() == 7.9


def test_fig4_and_depth_spread():
    fig4 = paper_values("fig4")
    assert len(fig4) == 10 and fig4["unit"].eq("voxel").all()
    assert sorted(paper_values("depth_std")["value"]) == [3.137, 3.183]
