"""The estimators: the Table 1 CNN, the binary nearest-neighbour search, the 2D regression forest."""

from __future__ import annotations

from . import cnn, forest, nn
from .cnn import DROPOUT, LandmarkCNN, count_parameters, forward_flops, layer_shapes
from .forest import BoxFeatures, RegressionForest
from .nn import SEARCH_BLOCK_BYTES, BinaryNN, pack_masks, unpack_masks

__all__ = ["cnn", "DROPOUT", "LandmarkCNN", "layer_shapes", "count_parameters", "forward_flops", "nn", "SEARCH_BLOCK_BYTES", "pack_masks", "unpack_masks", "BinaryNN", "forest", "BoxFeatures", "RegressionForest"]
