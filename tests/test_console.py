"""The console without a browser: login and sessions, role and CSRF refusals, every form's bad input."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from amisys.security.commands import targets_of
from amisys.web.app import create_app
from amisys.web.auth import (
    Users,
    UsersFileError,
    check_password,
    generate_users,
    hash_password,
    load_users,
)
from tests.console_support import PASSWORD, fleet, users

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory):
    f = fleet(tmp_path_factory.mktemp("console"))
    app = create_app(f, users(), speed=0, warmup_s=6 * 3600)
    with TestClient(app) as client:
        yield client, f


def shown(r) -> str:
    """The page's text as the browser shows it (entities decoded)."""
    return html.unescape(r.text)


def login(client: TestClient, name: str) -> str:
    client.cookies.clear()
    r = client.post("/login", data={"username": name, "password": PASSWORD, "next": "/meters"})
    assert r.status_code == 200, r.text  # followed the redirect to /meters
    return CSRF.search(r.text).group(1)


# -- passwords and the users file --------------------------------------------------------------------


def test_password_hash_is_salted_scrypt() -> None:
    a, b = hash_password("secret"), hash_password("secret")
    assert a != b and a.startswith("scrypt$") and "secret" not in a
    assert check_password("secret", a) and not check_password("Secret", a)
    assert not check_password("secret", "plain:secret")


def test_generated_users_file_round_trips_without_plaintext(tmp_path: Path) -> None:
    path = tmp_path / "users.toml"
    made = generate_users(path)
    assert set(made) == {"viewer", "operator", "supervisor", "trainer"}
    text = path.read_text()
    assert all(pw not in text for pw in made.values())
    loaded = load_users(path)
    assert loaded.authenticate("operator", made["operator"]).role == "operator"
    assert path.stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"users": [{"username": "ann", "role": "operator", "password": "x"}]}', "never store a plaintext"),
        ('{"users": [{"username": "ann", "role": "admin", "password_hash": "scrypt$1$1$1$00$00"}]}', "role 'admin'"),
        ('{"users": [{"username": "A!", "role": "viewer", "password_hash": "scrypt$1$1$1$00$00"}]}', "username"),
        ('{"users": []}', "lists no user"),
        ("{not json", "not valid JSON"),
    ],
)
def test_bad_users_file_is_refused(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "users.json"
    path.write_text(content)
    with pytest.raises(UsersFileError, match=re.escape(message)):
        load_users(path)


def test_repeated_failures_lock_the_username() -> None:
    u = users()
    for _ in range(5):
        with pytest.raises(ValueError, match="wrong password"):
            u.authenticate("otto", "nope", now=100.0)
    with pytest.raises(ValueError, match="too many failed logins"):
        u.authenticate("otto", PASSWORD, now=101.0)
    assert u.authenticate("otto", PASSWORD, now=500.0).role == "operator"


def test_users_must_be_unique() -> None:
    with pytest.raises(UsersFileError, match="twice"):
        Users([*users(), next(iter(users()))])


# -- login and sessions ------------------------------------------------------------------------------


def test_pages_need_a_login(app_client) -> None:
    client, _ = app_client
    client.cookies.clear()
    r = client.get("/meters", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert client.post("/outages/inject", data={"transformer": "x"}).status_code == 401


def test_bad_password_is_refused_and_audited(app_client) -> None:
    client, f = app_client
    client.cookies.clear()
    r = client.post("/login", data={"username": "otto", "password": "wrong"})
    assert r.status_code == 401 and "unknown user or wrong password" in shown(r)
    r = client.post("/login", data={"username": "nobody", "password": "wrong"})
    assert r.status_code == 401 and "unknown user or wrong password" in shown(r)
    assert client.post("/login", data={"username": "", "password": ""}).status_code == 400
    refused = f.utility.audit.find(decision="login-refused")
    assert {r.detail["username"] for r in refused} >= {"otto", "nobody"}


def test_session_cookie_is_httponly_strict_and_signed(app_client) -> None:
    client, _ = app_client
    client.cookies.clear()
    r = client.post("/login", data={"username": "vera", "password": PASSWORD}, follow_redirects=False)
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    value = client.cookies.get("amisys_session")
    assert client.get("/meters", follow_redirects=False).status_code == 200
    client.cookies.clear()
    client.cookies.set("amisys_session", value[:-2] + ("AA" if not value.endswith("AA") else "BB"))
    assert client.get("/meters", follow_redirects=False).status_code == 303


def test_logout_ends_the_session_for_good(app_client) -> None:
    client, _ = app_client
    csrf = login(client, "vera")
    value = client.cookies.get("amisys_session")
    assert client.post("/logout", data={"csrf": "wrong"}).status_code == 403
    r = client.post("/logout", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    client.cookies.clear()
    client.cookies.set("amisys_session", value)  # the old cookie, replayed
    assert client.get("/meters", follow_redirects=False).status_code == 303


def test_login_does_not_redirect_off_site(app_client) -> None:
    client, _ = app_client
    client.cookies.clear()
    r = client.post(
        "/login", data={"username": "vera", "password": PASSWORD, "next": "//evil.example/"}, follow_redirects=False
    )
    assert r.headers["location"] == "/meters"


# -- roles and CSRF ----------------------------------------------------------------------------------


def test_viewer_reads_every_page_but_may_not_act(app_client) -> None:
    client, _ = app_client
    csrf = login(client, "vera")
    for page in ("/meters", "/meters/meter:000001", "/outages", "/security", "/dr", "/requirements", "/audit"):
        r = client.get(page)
        assert r.status_code == 200, page
        assert "Read now" not in shown(r) and "Make it fail" not in shown(r)
    r = client.post("/meters/meter:000001/read", data={"csrf": csrf})
    assert r.status_code == 403 and "vera is a viewer and may not operate meters" in shown(r)


def test_operator_may_not_approve_nor_inject(app_client) -> None:
    client, _ = app_client
    csrf = login(client, "otto")
    r = client.post("/security/quarantine", data={"csrf": csrf, "qid": "Q-000001", "decision": "approve"})
    assert r.status_code == 403 and "supervisor role needed" in shown(r)
    r = client.post("/outages/inject", data={"csrf": csrf, "transformer": "x", "minutes": "5"})
    assert r.status_code == 403 and "trainer role needed" in shown(r)


def test_trainer_may_not_operate_meters(app_client) -> None:
    client, _ = app_client
    csrf = login(client, "tina")
    r = client.post("/meters/meter:000001/read", data={"csrf": csrf})
    assert r.status_code == 403


def test_post_without_or_with_wrong_csrf_is_refused(app_client) -> None:
    client, f = app_client
    login(client, "otto")
    before = len(f.utility.bus.trace)
    for data in ({}, {"csrf": "forged"}):
        r = client.post("/meters/meter:000001/read", data=data)
        assert r.status_code == 403 and "CSRF token" in shown(r)
    assert len(f.utility.bus.trace) == before  # nothing was sent


def test_csrf_token_of_another_session_is_refused(app_client) -> None:
    client, _ = app_client
    other = login(client, "sue")
    login(client, "otto")
    r = client.post("/meters/meter:000001/read", data={"csrf": other})
    assert r.status_code == 403


# -- actions and their bad input -----------------------------------------------------------------------


def test_on_demand_read_stores_registers_and_names_the_operator(app_client) -> None:
    client, f = app_client
    csrf = login(client, "otto")
    r = client.post("/meters/meter:000002/read", data={"csrf": csrf})
    assert (
        r.status_code == 200
        and "on-demand read of meter:000002:" in shown(r)
        and "register readings stored" in shown(r)
    )
    assert any(t.process == "3.1.2" and t.recipient == "meter:000002" for t in f.utility.bus.trace)
    rec = f.utility.audit.find(decision="on-demand-read")[-1]
    assert rec.detail["operator"] == "operator:otto"


def test_unknown_and_malformed_meters(app_client) -> None:
    client, _ = app_client
    csrf = login(client, "otto")
    r = client.get("/meters/meter:999999")
    assert r.status_code == 404 and "unknown meter meter:999999" in shown(r)
    r = client.get("/meters/drop table")
    assert r.status_code == 404 and "is not a meter id" in shown(r)
    r = client.post("/meters/meter:999999/read", data={"csrf": csrf})
    assert r.status_code == 404 and "unknown meter" in shown(r)
    r = client.get("/meters?feeder=nope")
    assert r.status_code == 400 and "unknown feeder" in shown(r)
    r = client.get("/meters?state=melted")
    assert r.status_code == 400 and "unknown state" in shown(r)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"action": "disconnect", "process": "3.4.3", "order": "", "reason": "move-out"}, "give the service order"),
        ({"action": "disconnect", "process": "3.4.3", "order": "SO 1; rm", "reason": "x"}, "not a valid service order"),
        ({"action": "disconnect", "process": "3.4.3", "order": "SO-404", "reason": "x"}, "unknown business record"),
        ({"action": "disconnect", "process": "3.4.3", "order": "SO-1", "reason": ""}, "give a reason"),
        ({"action": "explode", "process": "3.4.3", "order": "SO-1", "reason": "x"}, "unknown action"),
        ({"action": "connect", "process": "3.4.3", "order": "SO-1", "reason": "x"}, "unknown connect process"),
    ],
)
def test_switch_form_rejects_bad_input_keeping_what_was_typed(app_client, data: dict, message: str) -> None:
    client, f = app_client
    csrf = login(client, "otto")
    before = len(f.utility.bus.trace)
    r = client.post("/meters/meter:000003/switch", data={"csrf": csrf, **data})
    assert r.status_code == 400 and message in shown(r)
    if data["reason"]:
        assert f'value="{data["reason"]}"' in shown(r)
    assert len(f.utility.bus.trace) == before


def test_disconnect_with_an_order_for_another_meter_is_refused(app_client) -> None:
    client, f = app_client
    csrf = login(client, "otto")
    ref = f.cis.open_service_order("meter:000004", "disconnect", "operator:otto")
    r = client.post(
        "/meters/meter:000005/switch",
        data={"csrf": csrf, "action": "disconnect", "process": "3.4.3", "order": ref, "reason": "move-out"},
    )
    assert r.status_code == 400 and f"business record {ref} does not cover meter:000005" in shown(r)


def test_disconnect_and_connect_under_a_service_order(app_client) -> None:
    client, f = app_client
    csrf = login(client, "otto")
    r = client.post("/meters/meter:000006/service-order", data={"csrf": csrf, "purpose": "disconnect"})
    ref = re.search(r"service order (SO-\S+) opened", r.text).group(1)
    r = client.post(
        "/meters/meter:000006/switch",
        data={"csrf": csrf, "action": "disconnect", "process": "3.4.3", "order": ref, "reason": "move-out"},
    )
    assert "disconnect of meter:000006 done: the switch is open" in shown(r), r.text
    assert f.utility.store.devices.get("meter:000006").rcd_state == "open"
    accepted = [r for r in f.utility.audit.find(decision="accepted") if r.detail.get("operator") == "operator:otto"]
    assert any(r.detail["noun"] == "EndDeviceControls" for r in accepted)
    r = client.post("/meters/meter:000006/service-order", data={"csrf": csrf, "purpose": "connect"})
    ref = re.search(r"service order (SO-\S+) opened", r.text).group(1)
    r = client.post(
        "/meters/meter:000006/switch",
        data={"csrf": csrf, "action": "connect", "process": "3.4.1", "order": ref, "reason": "move-in"},
    )
    assert "connect of meter:000006 done: the switch is closed" in shown(r), r.text


def test_service_order_form_rejects_unknown_purpose(app_client) -> None:
    client, _ = app_client
    csrf = login(client, "otto")
    r = client.post("/meters/meter:000006/service-order", data={"csrf": csrf, "purpose": "demolish"})
    assert r.status_code == 400 and "unknown purpose 'demolish'" in shown(r)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"qid": "", "decision": "approve", "reason": "ok"}, "give the id of the quarantined command"),
        ({"qid": "Q-1", "decision": "approve", "reason": "ok"}, "is not a quarantine id"),
        ({"qid": "Q-999999", "decision": "approve", "reason": "ok"}, "no quarantined command 'Q-999999'"),
        ({"qid": "Q-000001", "decision": "maybe", "reason": "ok"}, "unknown decision"),
        ({"qid": "Q-000001", "decision": "approve", "reason": ""}, "give a reason for the decision"),
    ],
)
def test_quarantine_form_rejects_bad_input(app_client, data: dict, message: str) -> None:
    client, _ = app_client
    csrf = login(client, "sue")
    r = client.post("/security/quarantine", data={"csrf": csrf, **data})
    assert r.status_code in (400, 403) and message in shown(r)


def test_supervisor_rejects_a_held_burst_and_the_issuer_cannot(app_client) -> None:
    client, f = app_client
    victims = sorted(f.meters)[20:32]

    async def burst() -> None:
        for m in victims:
            order = f.cis.open_service_order(m, "disconnect", "operator:sam")
            await f.cis.switch_on_order(
                m, connect=False, order=order, process="3.4.3", reason="burst", operator="operator:sam"
            )

    client.portal.call(console_sim(client).act, burst)
    held = [h for h in f.headend.endpoint.guard.held if h.operator == "operator:sam"]
    assert held
    qid = held[-1].id
    (target,) = targets_of(held[-1].item.payload)
    csrf = login(client, "sam")
    r = client.post("/security/quarantine", data={"csrf": csrf, "qid": qid, "decision": "reject", "reason": "mine"})
    assert r.status_code == 403 and f"operator:sam issued {qid} and cannot reject it" in shown(r)
    csrf = login(client, "sue")
    r = client.post("/security/quarantine", data={"csrf": csrf, "qid": qid, "decision": "reject", "reason": "bogus"})
    assert r.status_code == 200 and f"{qid} rejected by operator:sue" in shown(r)
    assert qid not in {h.id for h in f.headend.endpoint.guard.held}
    rejected = f.utility.audit.find(decision="rejected")[-1]
    assert rejected.detail["quarantine"] == qid and rejected.detail["approver"] == "operator:sue"
    assert f.utility.store.devices.get(target).rcd_state == "closed"  # the rejected disconnect never ran


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"program": "nope", "level": "50", "minutes": "60", "reason": "peak"}, "unknown program 'nope'"),
        ({"program": "dlc-residential", "level": "150", "minutes": "60", "reason": "peak"}, "between 0 and 100"),
        ({"program": "dlc-residential", "level": "half", "minutes": "60", "reason": "peak"}, "whole number"),
        ({"program": "dlc-residential", "level": "50", "minutes": "1", "reason": "peak"}, "between 5 and 720"),
        ({"program": "dlc-residential", "level": "50", "minutes": "60", "reason": ""}, "give a reason"),
        ({"program": "CPP", "level": "0", "minutes": "60", "reason": "peak"}, "between 1 and 1000"),
    ],
)
def test_dr_form_rejects_bad_input(app_client, data: dict, message: str) -> None:
    client, _ = app_client
    csrf = login(client, "otto")
    r = client.post("/dr/event", data={"csrf": csrf, **data})
    assert r.status_code == 400 and message in shown(r)


def test_dr_event_goes_to_the_enrolled_gateways(app_client) -> None:
    client, f = app_client
    csrf = login(client, "otto")
    r = client.post(
        "/dr/event", data={"csrf": csrf, "program": "dlc-residential", "level": "50", "minutes": "30", "reason": "peak"}
    )
    assert r.status_code == 200 and "DR event dlc-residential-" in shown(r)
    event = re.search(r"DR event (dlc-residential-\d+) issued", r.text).group(1)
    assert f.utility.records.get(event).kind == "dr-event"
    assert any(t.process == "4.2.1" and t.kind.endswith("LoadControl") for t in f.utility.bus.trace)
    row = re.search(rf"<tr><td>{event}</td>.*?</tr>", client.get("/dr").text, re.S).group(0)
    assert "operator:otto" in row


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"transformer": "tx-nope", "minutes": "30"}, "unknown transformer 'tx-nope'"),
        ({"transformer": "", "minutes": "30"}, "choose a transformer"),
        ({"minutes": "0"}, "between 1 and 1440"),
        ({"minutes": ""}, "give the duration in minutes"),
    ],
)
def test_inject_form_rejects_bad_input(app_client, data: dict, message: str) -> None:
    client, f = app_client
    csrf = login(client, "tina")
    data = {"transformer": f.topology.transformers[0].id, **data}
    r = client.post("/outages/inject", data={"csrf": csrf, **data})
    assert r.status_code == 400 and message in shown(r)


def test_injected_outage_is_correlated_and_drawn(app_client) -> None:
    client, f = app_client
    csrf = login(client, "tina")
    tx = f.topology.transformers[-1].id
    r = client.post("/outages/inject", data={"csrf": csrf, "transformer": tx, "minutes": "60"})
    assert r.status_code == 200 and f"transformer {tx} fails for 60 min" in shown(r)
    client.portal.call(console_sim(client).pass_time, 900)
    page = client.get("/outages").text
    assert f'id="tx-{tx}" data-state="' in page and f'class="outage" data-device="{tx}"' in page


def test_audit_page_verifies_the_chain_and_pages(app_client) -> None:
    client, _ = app_client
    login(client, "vera")
    r = client.get("/audit")
    assert "Hash chain verified" in shown(r)
    assert client.get("/audit?decision=bogus").status_code == 400
    assert client.get("/audit?page=2").status_code == 200


def console_sim(client: TestClient):
    return client.app.state.console.sim


def test_cli_refuses_a_missing_users_file(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from amisys.cli import app

    result = CliRunner().invoke(app, ["console", "--users", str(tmp_path / "none.toml"), "--out", str(tmp_path)])
    assert result.exit_code == 2 and "cannot read users file" in result.output
    result = CliRunner().invoke(app, ["console", "--port", "70000", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "--port must be 1..65535" in result.output
