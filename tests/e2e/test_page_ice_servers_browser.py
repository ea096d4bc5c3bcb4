"""In Chromium: the page rendered with the server's ICE URLs makes its ``RTCPeerConnection``
with exactly their STUN URLs, and a hostile URL string does not get out of the script.

The page is served from a routed ``http://127.0.0.1:9/`` (nothing listens there; every request
is answered by the test or aborted), so no server is started and nothing leaves the machine:
the STUN URLs are documentation addresses (TEST-NET), never reached within the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_browser_playground import CHROMIUM, needs_chromium
from voicebot.server.page import render_page

ORIGIN = "http://127.0.0.1:9/"
STUN = "stun:192.0.2.7:3478"
STUN2 = "stun:198.51.100.9"
TURN = "turn:192.0.2.8?transport=tcp"

#: Records what the page hands to RTCPeerConnection, and what the browser made of it.
RECORD_CONFIG = """
window.__iceConfigs = [];
const Real = window.RTCPeerConnection;
window.RTCPeerConnection = class extends Real {
  constructor(config) {
    super(config);
    window.__iceConfigs.push({given: config.iceServers, used: this.getConfiguration().iceServers});
  }
};
"""

pytestmark = needs_chromium


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=[
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            yield context
        finally:
            context.close()


def open_page(context: Any, html: str) -> Any:
    """``html`` at ``ORIGIN``; any other request (the offer) is aborted."""

    def route(request_route: Any) -> None:
        if request_route.request.url == ORIGIN:
            request_route.fulfill(status=200, content_type="text/html", body=html)
        else:
            request_route.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.add_init_script(RECORD_CONFIG)
    page.goto(ORIGIN)
    return page


def test_the_browser_peer_connection_gets_the_stun_servers(browser: Any) -> None:
    page = open_page(browser, render_page([STUN, TURN, STUN2]))
    page.evaluate("window.voicebot.connect()")
    page.wait_for_function("window.__iceConfigs.length > 0", timeout=20_000, polling=50)
    # Recorded after the constructor returned: it did not throw (as on a TURN URL without
    # credentials); the offer it then posts is aborted, which the test does not look at.
    (config,) = page.evaluate("window.__iceConfigs")
    assert config["given"] == [{"urls": STUN}, {"urls": STUN2}]
    assert [server["urls"] for server in config["used"]] == [[STUN], [STUN2]]


def test_without_servers_the_browser_gets_none(browser: Any) -> None:
    page = open_page(browser, render_page())
    page.evaluate("window.voicebot.connect()")
    page.wait_for_function("window.__iceConfigs.length > 0", timeout=20_000, polling=50)
    (config,) = page.evaluate("window.__iceConfigs")
    assert config["given"] == [] and config["used"] == []


def test_a_hostile_url_stays_a_string(browser: Any) -> None:
    hostile = "stun:x</script><script>window.__pwned = 1</script><!--"
    page = open_page(browser, render_page([hostile]))
    assert page.evaluate("typeof window.voicebot") == "object"  # the page's script ran whole
    assert page.evaluate("typeof window.__pwned") == "undefined"
