"""Glue between a notebook's papermill ``parameters`` cell and the library.

Every notebook starts with a cell tagged ``parameters`` (its defaults are the ``quick`` profile) and
then calls :func:`configure` with its globals. papermill injects ``-p name value`` pairs as plain
assignments; :func:`configure` sees every one of them, so a misspelt parameter stops the notebook
with one line listing the valid names instead of being silently ignored.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any

from .errors import LandmarkError
from .profiles import DEFAULT_PROFILE, Config, resolve

__all__ = ["Config", "configure"]

#: Names IPython/ipykernel put in a notebook's namespace by themselves.
_KERNEL_NAMES = frozenset({"In", "Out", "get_ipython", "exit", "quit", "open"})


def _user_names(namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The variables a parameters cell (or papermill) set: no modules, functions or kernel names."""
    return {
        name: value
        for name, value in namespace.items()
        if not name.startswith("_")
        and name not in _KERNEL_NAMES
        and not isinstance(value, (types.ModuleType, types.FunctionType, type))
    }


def configure(namespace: Mapping[str, Any], *, stage: str = "notebook") -> Config:
    """Resolve a notebook's parameters against the profile table.

    Parameters
    ----------
    namespace
        The notebook's ``globals()`` right after the parameters cell (and papermill's injected cell).
    stage
        Notebook name, for messages.

    Returns
    -------
    Config
        Every parameter of the profile, overridden where the notebook or papermill set a value
        other than ``None``. Nothing process-wide is set: the root of generated data travels in
        ``cfg.renders_dir``, which every stage reads from the config it is given. With ``realism``
        other than ``clean``, ``cfg.profile`` is the level's results key (``cpu/realism-hard-...``),
        so the run's predictions, folds and models never overwrite the clean cohort's.

    Raises
    ------
    LandmarkError
        Unknown profile, unknown parameter name, or a value of the wrong type.
    """
    values = _user_names(namespace)
    profile = values.pop("profile", DEFAULT_PROFILE)
    try:
        cfg = resolve(profile, values)
    except LandmarkError as err:
        raise LandmarkError(f"{stage}: {err}") from None
    if cfg.realism != "clean":
        from .experiments.sensitivity import level_config

        cfg = level_config(cfg, cfg.realism, ladder=False)
    return cfg
