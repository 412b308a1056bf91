import io

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
