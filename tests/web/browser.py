"""Headless Chromium (Debian's /usr/bin/chromium) driven by Playwright, for page tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..support import missing_backend

CHROMIUM = Path("/usr/bin/chromium")
# The machine's network is closed: background traffic would only fail, noisily.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@contextmanager
def chromium_page() -> Iterator[Any]:
    """A fresh browser page (skips, or fails under ZHENGYIN_REQUIRE_BACKENDS, without it)."""
    if not CHROMIUM.exists():
        missing_backend("Chromium (/usr/bin/chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            context = browser.new_context(accept_downloads=True, locale="zh-CN")
            yield context.new_page()
        finally:
            browser.close()


GREEN = "rgb(26, 127, 55)"
"""The pages' green (site.css --green), as a computed colour."""

_PAINTED_GREEN = """green => [...document.querySelectorAll('body *')].filter(e => {
    const s = getComputedStyle(e);
    return [s.color, s.backgroundColor, s.borderTopColor, s.borderRightColor,
            s.borderBottomColor, s.borderLeftColor].includes(green);
}).map(e => e.outerHTML.slice(0, 120))"""


def green_elements(page: Any) -> list[str]:
    """Every element the page paints green (text, background or border), as computed by the
    browser from the real style sheet."""
    return list(page.evaluate(_PAINTED_GREEN, GREEN))
