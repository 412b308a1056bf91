"""The network of Table 1 (Riegler et al. 2015, Sec. 2.2).

``conv5-32 maxpool2 conv5-32 maxpool2 conv3-32 fc2048 fc2048 fc(k*o)`` with a ReLU after every
convolution and every hidden fully-connected layer; the output layer is linear (it regresses the
landmarks in ``[-1, 1]``, eq. 1, which a ReLU could not reach below 0).

Choices the paper leaves open (documented here and in ``book/04_pretraining.ipynb``):

* **Padding**: none ("valid" convolutions, stride 1), as in Caffe's default ``pad: 0`` of the
  era; max-pooling 2x2 with stride 2, floor rounding. Feature maps: hand 96x96 -> 92 -> 46 -> 42 ->
  21 -> 19 (32 x 19 x 19 = 11,552 features); body 160x76 (rows x cols) -> 156x72 -> 78x36 -> 74x32 ->
  37x16 -> 35x14 (15,680 features).
* **Dropout**: p = 0.5 after the ReLU of each hidden fc layer (the usual rate of AlexNet-style fc
  stacks; the paper only says "dropout in the fc layers").
* **Initialisation**: PyTorch's default (Kaiming-uniform with ``a = sqrt(5)``, i.e. uniform in
  ``+-1/sqrt(fan_in)``) for every layer; biases likewise. Deterministic given ``torch.manual_seed``.
* **Order**: the ReLU of the first two convolutions is applied after their max-pooling; the two
  commute exactly (``relu(max(a)) = max(relu(a))``), so the network is Table 1's, only cheaper.
* **Output layer**: ``k * outputs_per_landmark`` linear units: ``(x1, y1, x2, y2, ...)`` for the
  binary task (2 per landmark) and ``(x1, y1, d1, ...)`` for the depth variant (3 per landmark).

Input tensors are ``(B, C, p_h, p_w)``: ``(B, 1, 96, 96)`` for the hand and ``(B, 1, 160, 76)``
for the body (:data:`landmarklib.geometry.PATCH_SIZE` is ``(p_w, p_h)``).
"""

from __future__ import annotations

import torch
from torch import nn

from ..geometry import patch_size
from ..landmarks import landmark_names, parse_task

__all__ = ["DROPOUT", "LandmarkCNN", "layer_shapes", "count_parameters", "forward_flops"]

#: Dropout rate of the hidden fc layers (a choice; see the module docstring).
DROPOUT = 0.5


def _conv_out(size: int, kernel: int) -> int:
    return size - kernel + 1  # valid convolution, stride 1


class LandmarkCNN(nn.Module):
    """Table 1's network for one task.

    Parameters
    ----------
    task
        ``"hand"`` (k = 5, 96 x 96 input) or ``"body"`` (k = 9, 76 x 160 input, ``p_w x p_h``).
    outputs_per_landmark
        2 for ``(x, y)``, 3 for ``(x, y, depth)``.
    in_channels
        1: a binary mask or a normalised depth image.
    dropout
        Dropout rate of the hidden fc layers.

    Examples
    --------
    >>> net = LandmarkCNN("hand")
    >>> net(torch.zeros(2, 1, 96, 96)).shape
    torch.Size([2, 10])
    """

    def __init__(
        self, task: str, outputs_per_landmark: int = 2, *, in_channels: int = 1, dropout: float = DROPOUT
    ) -> None:
        super().__init__()
        self.task = parse_task(task)
        self.outputs_per_landmark = int(outputs_per_landmark)
        self.in_channels = int(in_channels)
        self.k = len(landmark_names(self.task))
        p_w, p_h = patch_size(self.task)
        self.input_shape = (self.in_channels, p_h, p_w)  # (C, H, W)
        h, w = p_h, p_w
        h, w = _conv_out(h, 5) // 2, _conv_out(w, 5) // 2
        h, w = _conv_out(h, 5) // 2, _conv_out(w, 5) // 2
        h, w = _conv_out(h, 3), _conv_out(w, 3)
        self.feature_shape = (32, h, w)
        # ReLU after the pooling: max-pooling commutes with the (monotone) ReLU, so this is the same
        # function and gradient as conv -> ReLU -> pool, with 4x fewer ReLU elements (~10 % faster).
        self.features = nn.Sequential(
            nn.Conv2d(self.in_channels, 32, 5), nn.MaxPool2d(2), nn.ReLU(inplace=True),  # conv5-32, maxpool2
            nn.Conv2d(32, 32, 5), nn.MaxPool2d(2), nn.ReLU(inplace=True),  # conv5-32, maxpool2
            nn.Conv2d(32, 32, 3), nn.ReLU(inplace=True),  # conv3-32
        )
        self.regressor = nn.Sequential(
            nn.Flatten(),
            nn.Linear(32 * h * w, 2048), nn.ReLU(inplace=True), nn.Dropout(dropout),  # fc2048
            nn.Linear(2048, 2048), nn.ReLU(inplace=True), nn.Dropout(dropout),  # fc2048
            nn.Linear(2048, self.k * self.outputs_per_landmark),  # fc(k*o), linear
        )

    @property
    def n_outputs(self) -> int:
        return self.k * self.outputs_per_landmark

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, p_h, p_w)`` -> ``(B, k * outputs_per_landmark)`` in eq. (1)'s ``[-1, 1]`` units."""
        return self.regressor(self.features(x))


def layer_shapes(model: LandmarkCNN) -> list[tuple[str, tuple[int, ...]]]:
    """``[(layer name, output shape without batch), ...]`` from a forward pass of one zero image."""
    shapes: list[tuple[str, tuple[int, ...]]] = []
    x = torch.zeros(1, *model.input_shape)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for _name, layer in [*model.features.named_children(), *model.regressor.named_children()]:
            x = layer(x)
            shapes.append((type(layer).__name__, tuple(x.shape[1:])))
    model.train(was_training)
    return shapes


def count_parameters(model: nn.Module) -> int:
    """Number of trainable scalars."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def forward_flops(model: LandmarkCNN) -> int:
    """Floating-point operations of one forward pass of one image (multiply + add = 2 FLOPs).

    Counted by :class:`torch.utils.flop_counter.FlopCounterMode` on a zero image: convolutions and
    matrix products (the fc layers), the multiply-accumulates that dominate; ReLU, pooling, dropout
    and bias adds are not counted (< 1 %). A training step costs about 3x this (forward, gradient
    w.r.t. inputs, gradient w.r.t. weights).
    """
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(torch.zeros(1, *model.input_shape))
    model.train(was_training)
    return int(counter.get_total_flops())
