"""Payload structs: one per catalog noun, round-trips, and strict refusal of anything malformed."""

from __future__ import annotations

import inspect

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amisys.messages import PAYLOADS, PayloadError, decode, encode, noun_of
from amisys.messages import cim as c
from amisys.messages import espi as e
from amisys.messages import han as h
from amisys.messages.examples import SAMPLES, T0, S

MODULE_OF_STANDARD = {"IEEE 2030.5": h.__name__, "NAESB ESPI": e.__name__}


def _raw(sample: str, /, **changes: object) -> bytes:
    """The sample of a noun as a plain map with `changes` applied, encoded without validation."""
    body = msgspec.to_builtins(SAMPLES[sample])
    body.update(changes)
    return msgspec.msgpack.encode(body)


def _refused(noun: str, data: bytes) -> str:
    with pytest.raises(PayloadError) as info:
        decode(noun, data)
    assert info.value.noun == noun
    assert str(info.value).startswith(f"{noun} payload invalid: ")
    return str(info.value)


def test_every_catalog_noun_has_a_payload_tagged_with_it(catalog) -> None:
    assert set(PAYLOADS) == set(catalog.nouns)
    for noun, cls in PAYLOADS.items():
        assert cls.__struct_config__.tag == noun
        assert cls.__struct_config__.tag_field == "noun"


def test_payloads_live_in_the_module_of_their_standard(catalog) -> None:
    for noun, cls in PAYLOADS.items():
        assert cls.__module__ == MODULE_OF_STANDARD.get(catalog.nouns[noun].standard, c.__name__), noun


@pytest.mark.parametrize("cls", [*PAYLOADS.values(), c.Reading, c.IntervalBlock, c.EndDeviceControl, h.SetPoint])
def test_structs_are_strict_frozen_and_keyword_only(cls: type[msgspec.Struct]) -> None:
    config = cls.__struct_config__
    assert config.forbid_unknown_fields and config.frozen
    params = inspect.signature(cls).parameters.values()
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params)


def test_samples_cover_the_catalog(catalog) -> None:
    assert set(SAMPLES) == set(catalog.nouns)
    for noun, sample in SAMPLES.items():
        assert type(sample) is PAYLOADS[noun]


@pytest.mark.parametrize("noun", sorted(SAMPLES))
def test_round_trip(noun: str) -> None:
    sample = SAMPLES[noun]
    data = encode(sample)
    assert msgspec.msgpack.decode(data)["noun"] == noun
    assert noun_of(sample) == noun
    assert decode(noun, data) == sample


def test_refuses_wrong_type() -> None:
    body = msgspec.to_builtins(SAMPLES["MeterReadings"])
    body["meter_readings"][0]["readings"][0]["value"] = "12"
    message = _refused("MeterReadings", msgspec.msgpack.encode(body))
    assert (
        message
        == "MeterReadings payload invalid: Expected `float`, got `str` - at `$.meter_readings[0].readings[0].value`"
    )


def test_refuses_unknown_field() -> None:
    assert "unknown field `customer_name`" in _refused("UsageData", _raw("UsageData", customer_name="Jane Doe"))


def test_refuses_missing_and_empty_tag() -> None:
    body = msgspec.to_builtins(SAMPLES["MeterPing"])
    del body["noun"]
    assert "missing required field `noun`" in _refused("MeterPing", msgspec.msgpack.encode(body))
    assert "`$.noun`" in _refused("MeterPing", _raw("MeterPing", noun=""))


def test_refuses_a_payload_of_another_noun() -> None:
    # Same fields, other kind: the tag alone tells them apart.
    ping = encode(c.MeterPing(meters=["m-1"]))
    assert "Invalid value 'MeterPing' - at `$.noun`" in _refused("RestorationStatusRequest", ping)
    assert "`$.noun`" in _refused("EndDeviceControls", encode(SAMPLES["MeterReadings"]))


@pytest.mark.parametrize(
    ("noun", "changes", "path"),
    [
        ("LoadControl", {"duty_cycle": 150}, "$.duty_cycle"),
        ("MeterLimits", {"energy_limit_wh": -1.0}, "$.energy_limit_wh"),
        ("PrepaymentAmount", {"amount_minor": -5}, "$.amount_minor"),
        ("GetMeterReadings", {"reading_types": ["1.0.1.8.0"]}, "$.reading_types[0]"),
        ("GetMeterReadings", {"reading_types": ["1.0.1.8.0.255\n"]}, "$.reading_types[0]"),
        ("GetMeterReadings", {"reading_types": ["1.0.1.8.0.２５５"]}, "$.reading_types[0]"),
        ("GetMeterReadings", {"meters": []}, "$.meters"),
        ("GetMeterReadings", {"meters": [""]}, "$.meters[0]"),
        ("EndDeviceLocation", {"latitude": 91.0}, "$.latitude"),
        ("BatteryStatus", {"charge_percent": 101.0}, "$.charge_percent"),
        ("MeterReadSchedule", {"start_ns": -1}, "$.start_ns"),
        ("TimeTariffInterval", {"program": "FLAT"}, "$.program"),
        ("FirmwareUpdate", {"sha256": "AB" * 32}, "$.sha256"),
        ("KeyUpdate", {"wrapped_key": b"short"}, "$.wrapped_key"),
        ("DERControl", {"op_mod_fixed_w": -101.0}, "$.op_mod_fixed_w"),
    ],
)
def test_refuses_constraint_violations(noun: str, changes: dict[str, object], path: str) -> None:
    assert f"at `{path}`" in _refused(noun, _raw(noun, **changes))


@pytest.mark.parametrize("code", ["3.31.0", "3.31.0.23.1", "open", "3.31.0.x", ""])
def test_refuses_malformed_control_type(code: str) -> None:
    body = msgspec.to_builtins(SAMPLES["EndDeviceControls"])
    body["controls"][0]["control_type"] = code
    assert "at `$.controls[0].control_type`" in _refused("EndDeviceControls", msgspec.msgpack.encode(body))


def test_refuses_non_finite_values() -> None:
    body = msgspec.to_builtins(SAMPLES["MeterReadings"])
    body["meter_readings"][0]["readings"][0]["value"] = float("nan")
    assert "readings[0].value" in _refused("MeterReadings", msgspec.msgpack.encode(body))


@pytest.mark.parametrize(
    ("noun", "changes", "rule"),
    [
        ("ScheduledOutage", {"end_ns": T0}, "end_ns must be after start_ns"),
        ("MeterLimits", {"demand_limit_w": None}, "set an energy or demand limit, or reset"),
        ("PrepaymentAmount", {"currency": None}, "amount_minor and currency go together"),
        ("LoadControl", {"duty_cycle": None, "offset": None}, "a load control needs"),
        ("UsageData", {"end_ns": T0 + 60 * S}, "within the period"),
    ],
)
def test_refuses_cross_field_violations(noun: str, changes: dict[str, object], rule: str) -> None:
    assert rule in _refused(noun, _raw(noun, **changes))


def test_refuses_interval_block_with_unmatched_qualities() -> None:
    body = msgspec.to_builtins(SAMPLES["MeterReadings"])
    body["meter_readings"][0]["interval_blocks"][0]["qualities"] = ["valid"]
    assert "one entry per value" in _refused("MeterReadings", msgspec.msgpack.encode(body))


@pytest.mark.parametrize("data", [b"", b"\xc1", b"\x93\x01\x02", b"\xdd\xff\xff\xff\xff", b"not msgpack at all"])
def test_refuses_garbage(data: bytes) -> None:
    _refused("MeterReadings", data)


def test_unknown_noun() -> None:
    with pytest.raises(PayloadError, match=r"^Bogus payload invalid: unknown noun$"):
        decode("Bogus", encode(SAMPLES["MeterPing"]))


def test_encode_refuses_what_decode_would() -> None:
    with pytest.raises(PayloadError, match=r"^LoadControl payload invalid: .*\$\.duty_cycle"):
        encode(msgspec.structs.replace(SAMPLES["LoadControl"], duty_cycle=150.0))
    with pytest.raises(PayloadError, match="not a registered payload type"):
        encode(c.Reading(reading_type="1.0.1.8.0.255", timestamp_ns=T0, value=1.0, unit="Wh"))


def test_cross_field_rules_apply_when_building_too() -> None:
    with pytest.raises(ValueError, match="end_ns must be after start_ns"):
        c.ScheduledOutage(outage_id="o", start_ns=T0, end_ns=T0, area="x", service_points=["sp"])


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=512))
def test_arbitrary_bytes_only_raise_payload_error(data: bytes) -> None:
    try:
        decode("MeterReadings", data)
    except PayloadError as exc:
        assert exc.noun == "MeterReadings"


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(SAMPLES)), st.data())
def test_mutated_samples_only_raise_payload_error(noun: str, data: st.DataObject) -> None:
    raw = bytearray(encode(SAMPLES[noun]))
    for _ in range(data.draw(st.integers(1, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    try:
        decode(noun, bytes(raw))
    except PayloadError as exc:
        assert exc.noun == noun
