"""Opening an HTML page in headless Chromium and reading what it rendered (tables, images,
audio elements), for the tests of `audiocs report` and of the quickstart's page."""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


class Page(HTMLParser):
    """Tables (class -> rows of cell texts), <img> and <audio> sources, and all text."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.images: list[str] = []
        self.audio: list[str] = []
        self.text: list[str] = []
        self._table: list[list[str]] | None = None
        self._cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if tag == "table":
            self._table = self.tables.setdefault(a.get("class") or "", [])
        elif tag == "tr" and self._table is not None:
            self._table.append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "img":
            self.images.append(a["src"])
        elif tag == "audio":
            self.audio.append(a["src"])

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._table is not None:
            self._table[-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)

    def rows(self, cls: str) -> list[list[str]]:
        """Body rows of the table(s) of class `cls` (header rows left out)."""
        return [r for r in self.tables[cls] if r and r[0] not in ("run", "class", "clips",
                                                                  "metric", "key")]


def browser() -> str:
    """The first Chromium-like browser on PATH; skips the test with a reason when none is."""
    for name in BROWSERS:
        if shutil.which(name):
            return shutil.which(name)  # type: ignore[return-value]
    pytest.skip(f"no headless browser found (looked for {', '.join(BROWSERS)} on PATH)")


def chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    """Run headless Chromium with `args` and a profile folder in `tmp`; skips without one."""
    command = [browser(), "--headless", "--disable-gpu", "--hide-scrollbars",
               f"--user-data-dir={tmp / 'profile'}", *args]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.insert(1, "--no-sandbox")
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
