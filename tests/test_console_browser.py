"""The console in Debian's chromium (Playwright): log in, read a meter on demand, approve a quarantined mass
disconnect as a second operator (the issuer is refused), and watch an injected outage appear."""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import sync_playwright

from amisys.security.commands import targets_of
from amisys.sim.fleet import Fleet
from amisys.web.app import create_app
from tests.console_support import PASSWORD, fleet, users

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


class Served:
    """The console served by uvicorn on a free loopback port, in a thread with its own event loop."""

    def __init__(self, f: Fleet) -> None:
        self.fleet = f
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.app = create_app(f, users(), speed=600.0, tick_s=0.25, warmup_s=6 * 3600)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self.server.serve(),), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.thread.start()
        give_up = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > give_up or not self.thread.is_alive():
                raise RuntimeError("the console did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)

    def run(self, coro_fn):
        """Run an action in the console's loop, between two steps of its clock."""
        sim = self.app.state.console.sim
        return asyncio.run_coroutine_threadsafe(sim.act(coro_fn), self.loop).result(timeout=60)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    s = Served(fleet(tmp_path_factory.mktemp("browser")))
    s.start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():  # fail, not skip: `make test` installs it first
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (make system-deps)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def log_in(page, served: Served, name: str) -> None:
    page.goto(f"{served.url}/login")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/meters$"))


def test_log_in_open_a_meter_and_read_it_on_demand(page, served: Served) -> None:
    page.goto(f"{served.url}/meters")
    assert "/login" in page.url  # not logged in yet
    log_in(page, served, "otto")
    page.click("text=meter:000001")
    page.wait_for_url(re.compile(r".*/meters/meter:000001$"))
    assert page.locator("h1").inner_text().startswith("meter:000001")
    assert page.locator("#switch-state").inner_text() == "closed"
    newest = page.locator("#registers tr:nth-child(2) td:nth-child(2)")
    before = newest.inner_text() if page.locator("#registers tr").count() > 1 else ""
    page.click("#read-now")
    page.wait_for_url(re.compile(r".*/meters/meter:000001$"))
    message = page.locator(".msg.ok").inner_text()
    assert re.fullmatch(r"on-demand read of meter:000001: \d+ register readings stored", message), message
    read_at = newest.inner_text()  # the newest register reading is the one just taken, at the simulated time
    assert read_at > before and read_at <= page.locator("#sim-time").inner_text()
    assert "valid" in page.locator("#registers tr:nth-child(2)").inner_text()


def test_quarantined_mass_disconnect_needs_a_second_operator(page, served: Served) -> None:
    f = served.fleet
    cis = f.cis
    victims = sorted(f.meters)[10:22]

    async def mass_disconnect() -> None:  # one supervisor disconnects more meters at once than the threshold
        for m in victims:
            order = cis.open_service_order(m, "disconnect", "operator:sam")
            await cis.switch_on_order(
                m, connect=False, order=order, process="3.4.3", reason="mass move-out", operator="operator:sam"
            )

    served.run(mass_disconnect)
    held = [h for h in f.headend.endpoint.guard.held if h.operator == "operator:sam"]
    assert held, "the burst was not held"
    qid = held[0].id
    (target,) = targets_of(held[0].item.payload)

    log_in(page, served, "sam")
    page.goto(f"{served.url}/security")
    row = page.locator(f"tr#{qid}")
    assert "operator:sam" in row.inner_text() and "burst" in row.inner_text()
    row.locator("input[name=reason]").fill("looks fine")
    row.locator("button[value=approve]").click()
    error = page.locator(".msg.error").inner_text()
    assert error == f"operator:sam issued {qid} and cannot approve it: a second operator must"
    assert page.locator(f"tr#{qid}").count() == 1  # still held

    page.click("text=Log out")
    log_in(page, served, "sue")
    page.goto(f"{served.url}/security")
    row = page.locator(f"tr#{qid}")
    row.locator("input[name=reason]").fill("verified with the move-out list")
    row.locator("button[value=approve]").click()
    assert page.locator(".msg.ok").inner_text() == f"{qid} approved by operator:sue"
    assert page.locator(f"tr#{qid}").count() == 0
    page.goto(f"{served.url}/meters/{target}")
    assert page.locator("#switch-state").inner_text() == "open"
    page.goto(f"{served.url}/audit?decision=released")
    assert "approved by operator:sue" in page.locator("#audit").inner_text()


def test_injected_outage_appears_on_the_feeder_diagram(page, served: Served) -> None:
    tx = served.fleet.topology.transformers[0].id
    log_in(page, served, "tina")
    page.goto(f"{served.url}/outages")
    assert page.locator(f'#open-outages tr[data-device="{tx}"]').count() == 0
    page.select_option("select[name=transformer]", tx)
    page.fill("input[name=minutes]", "120")
    page.click("#inject-form button[type=submit]")
    assert f"transformer {tx} fails for 120 min" in page.locator(".msg.ok").inner_text()
    give_up = time.monotonic() + 20
    while page.locator(f'#open-outages tr[data-device="{tx}"]').count() == 0:
        assert time.monotonic() < give_up, "the outage did not appear"
        time.sleep(0.3)
        page.reload()
    assert page.locator(f'svg g[id="tx-{tx}"]').get_attribute("data-state") in ("suspected", "confirmed")
    meters = served.fleet.topology.meters_of_transformer(tx)
    assert page.locator("circle.meter.confirmed, circle.meter.suspected").count() >= len(meters)
