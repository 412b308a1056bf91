"""The paper's own numbers, read from ``landmarklib/data/paper_values.csv`` (never typed into notebooks).

The file holds Fig. 2 (mean RMSE per method and landmark, px), Fig. 4 (mean absolute depth error,
voxels) and the cohort's depth spread quoted in Sec. 3, each row with its source.
"""

from __future__ import annotations

from importlib.resources import files

import pandas as pd

__all__ = ["paper_values"]


def paper_values(figure: str | None = None) -> pd.DataFrame:
    """Rows of the paper-values table, optionally of one ``figure`` (``fig2``, ``fig4``, ``depth_std``)."""
    with files("landmarklib").joinpath("data/paper_values.csv").open() as fh:
        table = pd.read_csv(fh)
    return table if figure is None else table[table["figure"] == figure].reset_index(drop=True)
