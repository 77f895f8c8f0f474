"""Helpers for the web console's tests (no tests here): a console served from this
process, raw HTTP requests (to set Host, Origin and cookies as an attacker would),
and headless Chromium through Playwright."""

from __future__ import annotations

import http.client
import os
import re
import threading
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


class InProcessConsole:
    """``swfd.console``'s server on a free loopback port, in a thread of this process."""

    def __init__(self, client, domain: str, *, allow_actions: bool = False,
                 label: str = "test endpoint") -> None:
        from swfd.console.server import Console, ConsoleServer

        self.server = ConsoleServer(("127.0.0.1", 0),
                                    Console(client, domain, label, allow_actions=allow_actions))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = self.server.url.rstrip("/")
        self.port = self.server.server_port

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    text: str
    cookies: dict[str, str] = field(default_factory=dict)

    def links(self, css: str) -> list[str]:
        """The hrefs of ``<a class="... css ...">`` (unescaped)."""
        found = re.findall(r'<a class="[^"]*\b' + re.escape(css) + r'\b[^"]*" href="([^"]*)"',
                           self.text)
        found += re.findall(r'<a href="([^"]*)"\s+class="[^"]*\b' + re.escape(css) + r'\b',
                            self.text)
        return [unescape(link) for link in found]

    def rows(self) -> list[str]:
        """The workflow ids of the executions table's rows, in order."""
        return [unescape(x) for x in re.findall(r'<tr class="execution" data-workflow-id="([^"]*)"',
                                                self.text)]

    def csrf(self) -> str:
        match = re.search(r'name="csrf" value="([^"]*)"', self.text)
        assert match, "no CSRF token on the page"
        return match.group(1)


def request(url: str, path: str = "/", *, method: str = "GET", form: dict | None = None,
            headers: dict[str, str] | None = None, host: str | None = None) -> Response:
    """One request with nothing added behind our back (unlike a browser or urllib)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    body = urlencode(form).encode() if form is not None else None
    sent = {"Host": parts.netloc if host is None else host, **(headers or {})}
    if body is not None:
        sent.setdefault("Content-Type", "application/x-www-form-urlencoded")
        sent["Content-Length"] = str(len(body))
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in sent.items():
            connection.putheader(name, value)
        connection.endheaders(body)
        answer = connection.getresponse()
        text = answer.read().decode("utf-8", "replace")
        cookies = dict(re.findall(r"(\w+)=(\w+);", answer.getheader("Set-Cookie") or ""))
        return Response(answer.status, {k.lower(): v for k, v in answer.getheaders()}, text,
                        cookies)
    finally:
        connection.close()


def chromium_or_skip() -> None:
    if not os.path.exists(CHROMIUM):
        pytest.skip("no Chromium at /usr/bin/chromium: apt-get install -y chromium "
                    "(README, 'Web console')")
    pytest.importorskip("playwright", reason="pip install -e '.[test]' (Playwright for Python)")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """A fresh headless Chromium (Debian's, never one Playwright downloads) for the module."""
    chromium_or_skip()
    from playwright.sync_api import sync_playwright

    profile: Path = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1300, "height": 900})
        context.set_default_timeout(20_000)
        try:
            yield context
        finally:
            context.close()
