"""Progress bars on a terminal only.

A bar redrawn for every batch fills a log file with updates, so bars are drawn only when stderr
is a terminal; in a log, the callers' one-line summaries (one per epoch, one per stage) remain.
``AUDIOCS_PROGRESS=1`` draws bars anyway, ``AUDIOCS_PROGRESS=0`` never does.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable

from tqdm import tqdm


def bars_wanted() -> bool:
    """True when progress bars should be drawn: stderr is a terminal, or AUDIOCS_PROGRESS=1."""
    forced = os.environ.get("AUDIOCS_PROGRESS", "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    return sys.stderr.isatty()


def progress_bar(iterable: Iterable | None = None, *, enabled: bool = True, **kwargs) -> tqdm:
    """``tqdm(iterable, **kwargs)``, drawn only when ``enabled`` and `bars_wanted()`."""
    return tqdm(iterable, disable=not (enabled and bars_wanted()), **kwargs)
