"""Headless Chromium (Debian's ``chromium``): a page's DOM after load, and screenshots.

Each call starts a fresh browser with its own throwaway profile and nothing that talks to
the network on its own (updates, sync, background fetches).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


def binary() -> str | None:
    return shutil.which("chromium")


def _run(*args: str) -> str:
    chromium = binary()
    assert chromium is not None, "install chromium (apt-get install -y chromium)"
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        done = subprocess.run(
            [chromium, *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def dump_dom(url: str) -> str:
    """The page's DOM, serialised, as the browser built it."""
    return _run("--dump-dom", url)


def screenshot(url: str, path: Path, width: int, height: int) -> Path:
    """A PNG of the page in a window of ``width`` x ``height`` CSS pixels."""
    _run(f"--screenshot={path}", f"--window-size={width},{height}", "--hide-scrollbars", url)
    return path


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's header."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", path
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


class Page(HTMLParser):
    """A DOM dump read the way a person sees it: elements by tag, and the visible text."""

    def __init__(self, dom: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.texts: list[str] = []
        self._hidden = 0
        self.feed(dom)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        if tag in ("style", "title", "script"):
            self._hidden += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "title", "script"):
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.texts.append(data)

    @property
    def text(self) -> str:
        return "".join(self.texts)

    def tags(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.elements if name == tag]
