"""Where the Hydra configs are: the repository's conf/ folder, or $FUSIONLAB_CONF when set."""

from __future__ import annotations

import os
from pathlib import Path

CONF_DIR = os.environ.get("FUSIONLAB_CONF", str(Path(__file__).resolve().parents[1] / "conf"))
