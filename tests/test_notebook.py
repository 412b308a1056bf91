import types

import pytest

from landmarklib import LandmarkError, configure


def test_configure_reads_the_parameters_cell_and_ignores_kernel_names():
    ns = {"profile": "cpu", "seed": 5, "hand_renders": None, "In": [], "Out": {}, "_i1": "x",
          "np": types.ModuleType("numpy"), "get_ipython": lambda: None}
    cfg = configure(ns, stage="01_rendering")
    assert cfg.profile == "cpu" and cfg.seed == 5
    assert cfg.hand_renders == 100_000  # None keeps the profile's value


def test_configure_refuses_an_injected_unknown_parameter():
    ns = {"profile": "quick", "seed": None, "n_renderz": 10}
    with pytest.raises(LandmarkError, match=r"01_rendering: unknown parameter n_renderz; valid names are: .*hand_renders"):
        configure(ns, stage="01_rendering")


def test_configure_refuses_an_unknown_profile():
    with pytest.raises(LandmarkError, match="unknown profile 'gpu'"):
        configure({"profile": "gpu"})


def test_error_renders_as_one_line_in_ipython():
    err = LandmarkError("scan.nii.gz: not a NIfTI file; re-export it")
    assert err._render_traceback_() == ["LandmarkError: scan.nii.gz: not a NIfTI file; re-export it"]
    assert isinstance(err, ValueError)
