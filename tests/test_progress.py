import io
import os

from landmarklib.progress import bar, count_images, enabled


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_none_means_on_for_a_terminal_and_off_for_a_pipe():
    assert enabled(None, file=_Tty()) is True
    assert enabled(None, file=io.StringIO()) is False
    assert enabled(True, file=io.StringIO()) is True
    assert enabled(False, file=_Tty()) is False


def test_bar_shows_stage_and_images_per_second():
    out = _Tty()
    with bar(total=10, desc="hand renders", unit="img", file=out) as b:
        count_images(b, 4)
        count_images(b, 6)
        assert b.n == 10 and "images_per_s" in b.postfix
    assert "hand renders" in out.getvalue()


def test_a_quiet_bar_writes_nothing_and_yields_everything():
    out = io.StringIO()
    with bar(range(3), desc="folds", unit="fold", file=out) as b:
        seen = [i for i in b if count_images(b, 5) is None]  # folds: images only feed the rate
    assert out.getvalue() == "" and seen == [0, 1, 2]


def test_bars_inside_a_book_run_report_their_stage_to_the_console(tmp_path, monkeypatch):
    """``landmarklib book`` cannot see a notebook's widgets: bars append text lines to the status file
    and follow_status passes the newest one on."""
    import io
    import time

    from landmarklib import progress

    monkeypatch.setattr(progress, "STATUS_EVERY_S", 0.0)
    seen: list[str] = []
    with progress.follow_status(tmp_path / "status", seen.append, every_s=0.05):
        assert progress.STATUS_ENV in os.environ
        with progress.bar(total=40, desc="hand renders", unit="img", progress=True, file=io.StringIO()) as b:
            progress.count_images(b, 40)
        with open(tmp_path / "status", "a") as f:
            f.write("a line being writ")  # not finished: never passed on
        time.sleep(0.3)
    assert progress.STATUS_ENV not in os.environ and not (tmp_path / "status").exists()
    assert seen and "hand renders" in seen[-1] and "40/40" in seen[-1] and "images_per_s" in seen[-1]
    assert not any("being writ" in line for line in seen)
    quiet: list[str] = []
    with progress.follow_status(tmp_path / "status", quiet.append, every_s=0.05):
        with progress.bar(total=3, desc="hidden", progress=False) as b:  # a hidden bar reports nothing
            b.update(3)
        time.sleep(0.2)
    assert quiet == []
