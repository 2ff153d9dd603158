"""The screens in a real browser (issue 8, "Screens"; WEB-*): Debian's Chromium, driven by Playwright,
opens the main pages of every role — centre admin, centre reviewer, department admin, data specialist,
auditor, citizen and an anonymous visitor — at 390 px (a phone) and 1366 px (a laptop), against
``govshare serve`` on a private copy of the demo database built once for this test process
(``demo_site``, tests/conftest.py), and checks on each page that

* nothing scrolls sideways: ``document.scrollingElement.scrollWidth <= innerWidth`` (wide tables
  scroll inside their own box);
* the Chinese UI speaks Chinese: no visible text with English words, apart from codes and
  abbreviations (``ALLOWED``) and user data (marked ``.mono`` / ``translate="no"``);
* the browser logs no console error (a CSP refusal, a failed script or request, a JS exception);

and that on a phone the menu is behind a button that opens and closes it.

The browser is never downloaded: ``/usr/bin/chromium`` (Debian's ``chromium``, with ``fonts-noto-cjk``;
``.ci/run`` installs both).  Without it the test is skipped.  It runs once per ``make test``: the
PostgreSQL pass skips it (the demo it drives is its own SQLite database).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PASSWORD = "Longnan-demo-2026"  # the demo accounts' password (README)
WIDTHS = (390, 1366)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium "
                                                     "(apt-get install chromium fonts-noto-cjk)"),
    pytest.mark.skipif(os.environ.get("DATABASE_URL", "").startswith("postgres"),
                       reason="runs once, in the SQLite pass: it drives its own demo database"),
    # with the other tests of the demo site (tests/conftest.py; ``demo_site`` is asked for lazily, see ``server``)
    pytest.mark.xdist_group("demo-site"),
]

#: the main pages of each role (``None``: anonymous); "{entry}" is a published entry of the demo
PAGES: dict[str | None, list[str]] = {
    "centre_admin": ["/", "/catalog/", "/sharing/", "/manage/", "/departments/", "/users/", "/users/new/",
                     "/calendar/", "/catalog/overview/", "/catalog/classifications/", "/exchange/cross-checks/"],
    "centre_reviewer": ["/", "/catalog/review/", "/sharing/", "/sharing/review/", "/sharing/overdue/",
                        "/sharing/cases/", "/sharing/demand/"],
    "police_admin": ["/", "/users/", "/specialists/", "/sharing/", "/sharing/to-answer/", "/sharing/systems/",
                     "/exchange/"],
    "police_specialist": ["/", "/catalog/mine/", "/catalog/entries/new/", "{entry}", "/sharing/",
                          "/sharing/applications/", "/sharing/grants/", "/sharing/errors/", "/sharing/requests/",
                          "/catalog/update-tasks/"],
    "auditor": ["/", "/audit/", "/sharing/", "/catalog/overview/", "/exchange/bindings/", "/exchange/base/"],
    # the exchange demo: the market binding (by update time, with rules), its first run (quarantined rows), the
    # 一数一源 check with differing names, the entry's quality
    "market_admin": ["/exchange/bindings/1/", "/exchange/runs/1/", "/exchange/cross-checks/1/",
                     "/exchange/quality/{market}/", "/data/entries/{market}/indexes/"],
    # spreadsheet uploads: the civil-affairs bureau's 养老机构 entry, the value rules its uploads are checked with, and
    # the half-filled upload the mass-delete guard holds
    "civil_specialist": ["/exchange/uploads/", "{upload_rules}", "{held_upload}"],
    "citizen": ["/", "/catalog/", "/account/", "/tokens/", "/inbox/"],
    None: ["/login/", "/catalog/", "{entry}"],
}

#: English that may stand in a Chinese screen: names of products, formats and units (words in capitals
#: only — API, JSON, GB/T, CAT-7, SHA-256 — are codes and abbreviations and always allowed)
ALLOWED = {
    "PostgreSQL", "SQLite", "MySQL", "Oracle", "Excel", "Turtle", "ECharts", "htmx", "govshare", "chinese-calendar",
    "xlsx", "Token", "token", "Bearer", "KiB", "MiB",
}
#: a word with a small letter (all-capital tokens are codes and abbreviations: CAT-7, SHA-256, LNGA, YYYY)
WORD = re.compile(r"[A-Za-z][A-Za-z'-]*[a-z][A-Za-z'-]*")

#: the visible text of the page outside user data, as the reader sees it
VISIBLE_TEXT_JS = r"""
() => {
  const skip = "script, style, noscript, template, .mono, code, kbd, pre, [translate=no], [lang=en], [data-user-data]";
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const text = node.textContent.trim();
    if (!text) continue;
    const el = node.parentElement;
    if (!el || el.closest(skip)) continue;
    if (!el.getClientRects().length) continue;  // not rendered (display:none, closed <details>)
    out.push(text);
  }
  for (const el of document.querySelectorAll("input[placeholder], textarea[placeholder]")) {
    // an example of a code to type (core.department) is a code, not a sentence
    if (el.getClientRects().length && !el.closest(skip) && !/^[a-z_]+(\.[a-z_]+)+$/.test(el.placeholder)) {
      out.push(el.placeholder);
    }
  }
  for (const el of document.querySelectorAll("input[type=submit], input[type=button]")) {
    if (el.getClientRects().length) out.push(el.value);
  }
  return out;
}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_until_up(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    for _ in range(300):
        if proc.poll() is not None:
            pytest.fail(f"govshare serve stopped:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url + "/login/", timeout=2) as answer:  # noqa: S310 — our own server
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"govshare serve did not answer:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``govshare serve`` on a free port, on the module's copy of the demo site (``demo_site``: one
    ``govshare demo --no-serve`` per test process).  ``GOVSHARE_BROWSER_SERVER=http://127.0.0.1:8000``
    checks an already running demo instead (and builds no demo)."""
    if os.environ.get("GOVSHARE_BROWSER_SERVER"):
        yield os.environ["GOVSHARE_BROWSER_SERVER"].rstrip("/")
        return
    env: dict[str, str] = request.getfixturevalue("demo_site")
    govshare = [sys.executable, "-m", "govshare.cli"]
    port = _free_port()
    log = tmp_path_factory.mktemp("browser-serve") / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([*govshare, "serve", "--port", str(port), "--workers", "2"], env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, proc, log)
        yield url
    finally:  # the server and its workers: the process group this fixture started
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs the dev extra: pip install -e '.[dev]'")
    sync_playwright = sync_api.sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _context(browser: Any) -> Any:
    context = browser.new_context(locale="zh-CN", viewport={"width": WIDTHS[-1], "height": 900})
    context.set_default_timeout(15000)
    return context


def _log_in(page: Any, server: str, username: str) -> None:
    page.goto(f"{server}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.click("main button[type=submit]")
    assert "/login/" not in page.url, f"{username} could not log in"


def _entry_url(page: Any, server: str) -> str:
    """A published entry any visitor may open (the first result of the open catalog)."""
    page.goto(f"{server}/catalog/")
    return str(page.locator("a[href*='/catalog/entries/']").first.get_attribute("href"))


def english_words(texts: list[str]) -> list[str]:
    """Words of English in visible texts, other than the allowed codes and abbreviations."""
    found = []
    for text in texts:
        for word in WORD.findall(text):
            word = word.strip("-'")
            if len(word) > 2 and word not in ALLOWED:
                found.append(f"{word!r} in {text[:80]!r}")
    return found


#: resolves after the next rendering step: the resize event (charts follow it) has been handled by then
AFTER_RENDERING = "() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))"


def resize(page: Any, width: int, height: int) -> None:
    """Change the viewport and wait until the page has seen the change (its resize event is
    dispatched in the next rendering step, not at once)."""
    page.set_viewport_size({"width": width, "height": height})
    page.evaluate(AFTER_RENDERING)


class Tab:
    """One tab per role, reused from page to page (a new tab per page costs a renderer process each:
    about twice the time); the console errors are collected per page."""

    def __init__(self, context: Any) -> None:
        self.page = context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda msg: self.errors.append(msg.text) if msg.type == "error" else None)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    def check(self, url: str, *, menu: bool = False) -> list[str]:
        """Open ``url`` and look at it at each width; the problems found, each naming width and what."""
        page, problems = self.page, []
        self.errors.clear()
        page.set_viewport_size({"width": WIDTHS[-1], "height": 900})
        # at the widest width the page is measured as opened: reading scrollWidth lays out the document
        # as the scripts left it at "load" (waiting two more frames per page cost ~3 s in all)
        answer = page.goto(url, wait_until="load")
        if answer is None or answer.status >= 400:
            problems.append(f"answered {answer.status if answer else 'nothing'}")
        for width in sorted(WIDTHS, reverse=True):
            if width != WIDTHS[-1]:  # the page was opened at the widest
                resize(page, width, 900)
            scroll, inner = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
            if scroll > inner:
                wide = page.evaluate("""(inner) => [...document.querySelectorAll('body *')]
                    .filter(e => e.getBoundingClientRect().right > inner + 1 && !e.closest('.table-wrap'))
                    .slice(0, 3).map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : ''))""",
                                     inner)
                problems.append(f"{width} px: page scrolls sideways ({scroll} > {inner}): {wide}")
            if width == WIDTHS[-1]:
                problems.extend(f"untranslated: {w}" for w in english_words(page.evaluate(VISIBLE_TEXT_JS))[:5])
        if menu:
            problems.extend(check_menu_button(page))
        problems.extend(f"console: {e}" for e in self.errors)
        return problems


def check_menu_button(page: Any) -> list[str]:
    """On a phone the menu hides behind its button; the button opens and closes it."""
    resize(page, 390, 800)
    menu, button = page.locator("#sidenav"), page.locator("[data-nav-toggle]")
    if not button.count():
        return []
    problems = []
    if menu.is_visible():
        problems.append("390 px: the menu is open before the button is pressed")
    button.click()
    if not menu.is_visible() or button.get_attribute("aria-expanded") != "true":
        problems.append("390 px: the menu button does not open the menu")
    button.click()
    if menu.is_visible():
        problems.append("390 px: the menu button does not close the menu")
    resize(page, 1366, 900)
    if not menu.is_visible() or button.is_visible():
        problems.append("1366 px: the menu is not shown beside the page")
    return problems


def test_the_main_pages_of_every_role_fit_a_phone_and_a_laptop_speak_chinese_and_log_no_errors(
        browser: Any, server: str) -> None:
    problems: list[str] = []
    entry = ""
    # one tab for every role, its cookies cleared between them: a browser context (and a tab) per role
    # cost a renderer process each (issue 8, suite speed)
    context = _context(browser)
    try:
        tab = Tab(context)
        for username, paths in PAGES.items():
            context.clear_cookies()
            if username is not None:
                _log_in(tab.page, server, username)
            if not entry:
                entry = _entry_url(tab.page, server)
            for path in paths:
                if "{market}" in path:  # the market register (its quality page is linked from the base libraries)
                    tab.page.goto(f"{server}/exchange/base/")
                    quality = str(tab.page.locator("a[href*='/exchange/quality/']").first.get_attribute("href"))
                    path = path.replace("{market}", quality.rstrip("/").rsplit("/", 1)[-1])
                if path == "{upload_rules}":  # the first entry on the uploads page
                    tab.page.goto(f"{server}/exchange/uploads/")
                    path = str(tab.page.locator("a[data-rules]").first.get_attribute("href"))
                if path == "{held_upload}":  # the half-filled upload the mass-delete guard holds
                    tab.page.goto(f"{server}/exchange/uploads/")
                    path = str(tab.page.locator("tr[data-status=held] a").first.get_attribute("href"))
                url = server + (entry if path == "{entry}" else path)
                problems.extend(f"{username or 'anonymous'} {url.removeprefix(server)}: {p}"
                                for p in tab.check(url, menu=path == "/"))
    finally:
        context.close()
    assert not problems, "\n".join(problems)
