import pytest

from landmarklib import LandmarkError, resolve
from landmarklib.cli import main
from landmarklib.plan import GPU_MACHINE, HERE, NN_S_PER_PAIR, GiB, Machine, format_plan, plan, problems

STAGES = ["renders", "cohorts", "baselines", "pretraining", "fine-tuning CV", "depth", "learning curve", "sensitivity",
          "detector", "book build"]


def test_every_stage_is_planned_with_how_each_figure_was_obtained(tmp_path):
    cfg = resolve("cpu", {"renders_dir": str(tmp_path)})
    stages = plan(cfg)
    assert [s.stage for s in stages] == STAGES
    for s in stages:
        assert s.disk_bytes >= 0 and s.ram_bytes > 0 and s.how
        if s.seconds_here is not None:
            assert s.seconds_gpu is not None and 0 < s.seconds_gpu <= s.seconds_here + 1e-9 or s.stage == "book build"


def test_figures_scale_with_the_profile(tmp_path):
    quick, paper = (plan(resolve(p, {"renders_dir": str(tmp_path)})) for p in ("quick", "paper"))
    by = {s.stage: (q, p) for s, q, p in zip(quick, quick, paper)}
    for stage in ("renders", "pretraining", "fine-tuning CV"):
        q, p = by[stage]
        assert p.seconds_here > 100 * q.seconds_here
    # the chapters load the 2.2M hand renders without depth maps (20 GiB of masks, x2 while concatenated)
    renders = by["renders"][1]
    assert 20 * GiB < renders.ram_bytes < 128 * GiB


def test_the_paper_profile_fits_the_gpu_machine_and_depth_is_a_hand_stage(tmp_path):
    cfg = resolve("paper", {"renders_dir": str(tmp_path)})
    stages = {s.stage: s for s in plan(cfg)}
    assert problems(list(stages.values()), GPU_MACHINE) == []
    assert problems(list(stages.values()), HERE)  # but not this machine
    # the depth CNN is trained on hands only: its time does not grow with the CT cohort
    more_bodies = {s.stage: s for s in plan(cfg.replace(ct_subjects=40))}
    assert more_bodies["depth"].seconds_here == stages["depth"].seconds_here
    assert more_bodies["fine-tuning CV"].seconds_here > stages["fine-tuning CV"].seconds_here


def test_parallel_folds_and_the_smaller_ladder_shorten_the_cpu_plan(tmp_path):
    cfg = resolve("cpu", {"renders_dir": str(tmp_path)})
    base = {s.stage: s.seconds_here for s in plan(cfg)}
    serial = {s.stage: s.seconds_here for s in plan(cfg.replace(fold_workers=1))}
    assert base["fine-tuning CV"] < serial["fine-tuning CV"]
    full = {s.stage: s.seconds_here for s in plan(cfg.replace(sensitivity_mr_subjects=132))}
    assert base["sensitivity"] < full["sensitivity"]


def test_problems_name_what_does_not_fit(tmp_path):
    stages = plan(resolve("paper", {"renders_dir": str(tmp_path)}))
    assert problems(stages, Machine("huge", 16, 1e15, 1e15)) == []
    assert any("renders: peak RAM" in p for p in problems(stages, Machine("small", 16, 32 * GiB, 1e15)))
    assert problems(plan(resolve("quick", {"renders_dir": str(tmp_path)})), HERE) == []
    tiny = Machine("tiny", 2, 1.0, 1.0)
    assert any(p.startswith("disk") for p in problems(stages, tiny))


def test_plan_command_prints_every_stage(tmp_path, capsys):
    assert main(["plan", "--profile", "quick", "-p", "renders_dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for stage in STAGES:
        assert stage in out
    assert "how each figure was obtained" in out and "FLOP-based" in out
    with pytest.raises(LandmarkError):
        format_plan({"seed": 0})


def test_plan_shows_the_measured_times_of_the_last_run_of_the_profile(tmp_path, monkeypatch):
    from landmarklib.provenance import write_json

    monkeypatch.setattr("landmarklib.paths.repo_root", lambda: None)  # not this checkout's own _build

    cfg = resolve("cpu", {"renders_dir": str(tmp_path)})
    assert "measured: the last run" not in format_plan(cfg)
    write_json(tmp_path / "executed" / "cpu" / "run.json", {
        "profile": "cpu", "git_commit": "abcdef1234", "finished": "2026-12-02T15:00:00",
        "notebooks": [{"name": "01_rendering", "seconds": 300.0}, {"name": "05_finetuning", "seconds": 3000.0}]})
    write_json(tmp_path / "executed" / "quick" / "run.json", {"profile": "quick", "notebooks": [{"name": "x", "seconds": 1}]})
    text = format_plan(cfg)
    assert "measured: the last run of this profile" in text and "commit abcdef1" in text
    assert "01_rendering 5 min, 05_finetuning 50 min" in text and "55 min" in text


def test_a_small_hand_step_carries_the_fixed_cost_of_a_pass_over_the_weights(tmp_path):
    from landmarklib.plan import HAND_STEP_FIXED_S, _step_here, rates

    cfg = resolve("cpu", {"renders_dir": str(tmp_path), "fold_workers": 1})
    r = rates(cfg)
    # a full batch costs what the batch-100 rate says; a small one costs more per image than that rate
    assert _step_here(cfg, r, "hand", 100) == pytest.approx(100 / r.train_per_s["hand"])
    assert _step_here(cfg, r, "hand", 5) > HAND_STEP_FIXED_S > 5 / r.train_per_s["hand"]
    assert _step_here(cfg, r, "hand", 24) < _step_here(cfg, r, "hand", 88)


def test_the_baselines_are_timed_by_forest_size_and_by_the_measured_nn_search(tmp_path):
    import json

    cfg = resolve("cpu", {"renders_dir": str(tmp_path)})

    def baselines(c):
        return next(s for s in plan(c) if s.stage == "baselines")

    base = baselines(cfg)
    assert 0 < base.seconds_gpu < base.seconds_here
    assert "no bench_nn.json" in base.how["time"]
    assert baselines(cfg.replace(rf_trees=2 * cfg.rf_trees)).seconds_here > base.seconds_here
    # a measured search (here a slow one: 100 s for 1,000 renders x 10 queries) replaces bench_nn's target
    bench = tmp_path / "results" / "benchmarks"
    bench.mkdir(parents=True)
    (bench / "bench_nn.json").write_text(json.dumps({"search_best_s": 100.0, "n_indexed": 1000, "n_queries": 10}))
    measured = baselines(cfg)
    assert "bench_nn.json" in measured.how["time"] and "no bench_nn.json" not in measured.how["time"]
    pairs = cfg.mr_subjects * cfg.hand_renders + cfg.ct_subjects * cfg.body_renders
    expected = base.seconds_here + pairs * (100.0 / 10_000 - NN_S_PER_PAIR)
    assert measured.seconds_here == pytest.approx(expected, rel=1e-9)
