import pytest
import torch

from landmarklib.models.cnn import LandmarkCNN, count_parameters, forward_flops, layer_shapes


def _expected(task):
    """Table 1 by hand: valid 5x5 / 5x5 / 3x3 convolutions, 2x2 max-pooling (floor)."""
    h, w, k = {"hand": (96, 96, 5), "body": (160, 76, 9)}[task]
    h1, w1 = h - 4, w - 4  # conv5-32
    h2, w2 = h1 // 2, w1 // 2  # maxpool2
    h3, w3 = h2 - 4, w2 - 4  # conv5-32
    h4, w4 = h3 // 2, w3 // 2  # maxpool2
    h5, w5 = h4 - 2, w4 - 2  # conv3-32
    flat = 32 * h5 * w5
    params = (
        (1 * 32 * 25 + 32) + (32 * 32 * 25 + 32) + (32 * 32 * 9 + 32)
        + (flat * 2048 + 2048) + (2048 * 2048 + 2048) + (2048 * 2 * k + 2 * k)
    )
    shapes = [
        (32, h1, w1), (32, h2, w2), (32, h2, w2),
        (32, h3, w3), (32, h4, w4), (32, h4, w4),
        (32, h5, w5), (32, h5, w5),
        (flat,), (2048,), (2048,), (2048,), (2048,), (2048,), (2048,), (2 * k,),
    ]
    return shapes, params


@pytest.mark.parametrize("task", ["hand", "body"])
def test_layer_shapes_and_parameter_count_match_table_1(task):
    net = LandmarkCNN(task)
    shapes, params = _expected(task)
    assert [s for _, s in layer_shapes(net)] == shapes
    assert count_parameters(net) == params
    kinds = [name for name, _ in layer_shapes(net)]
    assert kinds[:8] == ["Conv2d", "MaxPool2d", "ReLU", "Conv2d", "MaxPool2d", "ReLU", "Conv2d", "ReLU"]
    assert kinds[8:] == ["Flatten", "Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout", "Linear"]


def test_concrete_numbers():
    # hand: 32*19*19 = 11552 features; body: 32*35*14 = 15680
    assert count_parameters(LandmarkCNN("hand")) == 27_913_098
    assert count_parameters(LandmarkCNN("body")) == 36_383_634
    assert LandmarkCNN("hand").feature_shape == (32, 19, 19)
    assert LandmarkCNN("body").feature_shape == (32, 35, 14)


def test_depth_variant_has_three_outputs_per_landmark():
    net = LandmarkCNN("body", outputs_per_landmark=3)
    assert net(torch.zeros(2, 1, 160, 76)).shape == (2, 27)


def test_forward_flops_by_hand():
    # conv: 2 * out_h * out_w * 32 * in_c * kh * kw; fc: 2 * in * out
    hand = (2 * 92 * 92 * 32 * 1 * 25 + 2 * 42 * 42 * 32 * 32 * 25 + 2 * 19 * 19 * 32 * 32 * 9
            + 2 * 11552 * 2048 + 2 * 2048 * 2048 + 2 * 2048 * 10)
    assert forward_flops(LandmarkCNN("hand")) == hand


def test_output_layer_is_linear_so_negative_coordinates_are_reachable():
    torch.manual_seed(0)
    net = LandmarkCNN("hand").eval()
    out = net(torch.rand(8, 1, 96, 96).round())
    assert (out < 0).any()


def test_relu_after_pooling_is_the_same_function_as_before():
    torch.manual_seed(0)
    net = LandmarkCNN("hand").eval()
    x = torch.rand(3, 1, 96, 96).round().requires_grad_()
    f = net.features
    table_order = torch.nn.Sequential(f[0], f[2], f[1], f[3], f[5], f[4], f[6], f[7])  # conv, ReLU, pool
    a, b = f(x), table_order(x)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    ga = torch.autograd.grad(a.sum(), net.features[3].weight)[0]
    gb = torch.autograd.grad(b.sum(), net.features[3].weight)[0]
    torch.testing.assert_close(ga, gb)
