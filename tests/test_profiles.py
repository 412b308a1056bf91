import pytest

from landmarklib import PROFILES, LandmarkError, resolve
from landmarklib.profiles import parameter_names


def test_every_profile_has_the_same_keys():
    keys = [set(v) for v in PROFILES.values()]
    assert all(k == keys[0] for k in keys)
    assert set(PROFILES) == {"quick", "cpu", "paper"}


def test_paper_profile_holds_the_papers_numbers():
    paper = PROFILES["paper"]
    assert paper["hand_renders"] == 2_200_000 and paper["body_renders"] == 600_000
    assert paper["pretrain_epochs"] == 30 and paper["finetune_epochs"] == 700
    assert paper["batch_size"] == 100 and paper["lr"] == 0.01 and paper["momentum"] == 0.9
    assert paper["lr_decay"] == 0.7943 and paper["finetune_lr_drop_after"] == 500
    assert paper["mr_subjects"] == 132 and paper["ct_subjects"] == 20


def test_unknown_profile_is_refused_with_the_valid_names():
    with pytest.raises(LandmarkError, match="unknown profile 'fast'.*quick, cpu, paper"):
        resolve("fast")


def test_unknown_parameter_is_refused_with_the_valid_names():
    with pytest.raises(LandmarkError) as err:
        resolve("quick", {"hand_render": 5})
    message = str(err.value)
    assert "unknown parameter hand_render" in message
    assert "hand_renders" in message and "seed" in message


def test_overrides_are_coerced_to_the_profiles_types():
    cfg = resolve("cpu", {"seed": "7", "lr": "0.5", "hand_renders": 10.0, "device": None})
    assert cfg["seed"] == 7 and isinstance(cfg["seed"], int)
    assert cfg["lr"] == 0.5
    assert cfg["hand_renders"] == 10
    assert cfg["device"] == PROFILES["cpu"]["device"]
    assert cfg["profile"] == "cpu"


def test_wrong_type_is_refused():
    with pytest.raises(LandmarkError, match="seed='three' should be of type int"):
        resolve("quick", {"seed": "three"})
    with pytest.raises(LandmarkError, match="should be of type int"):
        resolve("quick", {"hand_renders": 2.5})


def test_parameter_names_cover_profile_and_extras():
    names = parameter_names()
    assert "profile" in names and "scan_dir" in names and "hand_renders" in names


def test_precision_is_one_switch_checked_in_every_profile():
    for name in PROFILES:
        assert resolve(name).precision == "auto"
    assert resolve("quick", {"precision": "fp32"}).precision == "fp32"
    with pytest.raises(LandmarkError, match="precision='fp16'.*auto, fp32, bf16"):
        resolve("quick", {"precision": "fp16"})


def test_results_keys_are_not_profile_names():
    """``cpu/realism-hard-...`` names a results folder (another realism level), never a profile a user can pick."""
    from landmarklib.profiles import base_profile, get_profile

    assert base_profile("cpu/realism-hard-ab12cd34") == "cpu" and base_profile("quick") == "quick"
    with pytest.raises(LandmarkError, match="unknown profile"):
        get_profile("cpu/realism-typo")
