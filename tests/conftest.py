import pytest


@pytest.fixture(autouse=True)
def _isolated_renders(tmp_path, monkeypatch):
    """Unit tests never touch the checkout's renders/ folder."""
    monkeypatch.setenv("LANDMARKLIB_RENDERS", str(tmp_path / "renders"))
    yield
