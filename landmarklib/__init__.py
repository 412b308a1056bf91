"""landmarklib: anatomical landmark detection driven by synthetic data (Riegler et al., ICCV-W 2015).

One module per stage of the paper; the book's notebooks call these and nothing else.

* :mod:`~landmarklib.profiles`  the scale profiles (quick / cpu / paper)
* :mod:`~landmarklib.geometry`  patch crop/scale and eq. (1)
* :mod:`~landmarklib.data`      :class:`LandmarkSet`, the common binary domain
* :mod:`~landmarklib.folds`     cross-validation folds shared by all methods
* :mod:`~landmarklib.results`   the prediction table every method writes
* :mod:`~landmarklib.evaluation` errors, bootstrap CIs and the claims table (C1-C5)
* :mod:`~landmarklib.figures`   Fig. 2, Fig. 3 and the learning curve
* :mod:`~landmarklib.viewer`    interactive overlays (ipywidgets, also in the static book)
"""

from .errors import LandmarkError
from .notebook import Config, configure
from .profiles import PROFILES, resolve

__version__ = "0.1.0"
__all__ = ["LandmarkError", "Config", "configure", "PROFILES", "resolve", "__version__"]
