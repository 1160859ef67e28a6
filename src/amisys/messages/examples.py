"""One valid example payload per catalog noun.

Tests, benchmarks and the docs use them: each is what a utility would plausibly send,
and decoding it round-trips.
"""

from __future__ import annotations

import msgspec

from amisys.messages import cim as c
from amisys.messages import espi as e
from amisys.messages import han as h

T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z in ns
S = 1_000_000_000
HOUR = 3600
TAMPER = "0.12.43.257"

SAMPLES: dict[str, msgspec.Struct] = {
    "MeterReadSchedule": c.MeterReadSchedule(
        meters=["m-1", "m-2"], reading_types=["1.0.1.8.0.255"], start_ns=T0, recurrence_s=HOUR
    ),
    "GetMeterReadings": c.GetMeterReadings(meters=["m-1"], reading_types=["1.0.1.8.0.255"]),
    "MeterReadings": c.MeterReadings(
        meter_readings=[
            c.MeterReading(
                meter="m-1",
                readings=[c.Reading(reading_type="1.0.1.8.0.255", timestamp_ns=T0, value=12345.5, unit="Wh")],
                interval_blocks=[
                    c.IntervalBlock(
                        reading_type="1.0.1.29.0.255",
                        start_ns=T0,
                        interval_s=900,
                        unit="Wh",
                        values=[120.0, 0.0],
                        qualities=["valid", "estimated"],
                    )
                ],
            )
        ]
    ),
    "EndDeviceEvents": c.EndDeviceEvents(
        events=[
            c.EndDeviceEvent(
                end_device="m-1", event_type=TAMPER, created_ns=T0, severity="alarm", details={"cover": "open"}
            )
        ]
    ),
    "GetEndDeviceStatus": c.GetEndDeviceStatus(end_devices=["m-1"], aspects=["switch", "backfeed"]),
    "EndDeviceStatus": c.EndDeviceStatus(
        statuses=[
            c.EndDeviceState(
                end_device="m-1",
                observed_ns=T0,
                energized=True,
                switch_state="closed",
                tamper_flags=["cover_open"],
                registration_id="reg-1",
            )
        ]
    ),
    "MeterPing": c.MeterPing(meters=["m-1"], reply_by_ns=T0 + 30 * S),
    "EndDeviceControls": c.EndDeviceControls(
        controls=[c.EndDeviceControl(end_device="m-1", control_type=c.RCD_OPEN, reason="move-out", scheduled_ns=T0)]
    ),
    "MeterLimits": c.MeterLimits(
        meter="m-1", start_ns=T0, demand_limit_w=2000.0, close_to_limit_percent=90.0, action="limit"
    ),
    "PrepaymentAmount": c.PrepaymentAmount(account="acct-1", meter="m-1", amount_minor=2000, currency="USD"),
    "PrepaymentBalance": c.PrepaymentBalance(
        account="acct-1", meter="m-1", as_of_ns=T0, balance_minor=-150, currency="USD"
    ),
    "MeterUsageStatus": h.MeterUsageStatus(
        meter="m-1",
        observed_ns=T0,
        energy_today_wh=4200.0,
        demand_w=850.0,
        balance_minor=1500,
        currency="USD",
        credit_status="ok",
        limit_state="within",
    ),
    "CustomerPayment": c.CustomerPayment(
        payment_id="pay-1", account="acct-1", received_ns=T0, amount_minor=5000, currency="USD", method="paypal"
    ),
    "ServiceRequest": c.ServiceRequest(
        request_id="sr-1", kind="move-in", service_point="sp-1", account="acct-1", requested_ns=T0
    ),
    "UsageConsent": e.UsageConsent(
        consent_id="cons-1",
        customer="cust-1",
        third_party="tp-1",
        usage_points=["up-1"],
        scope=["interval_readings"],
        start_ns=T0,
        end_ns=T0 + 365 * 86400 * S,
        status="granted",
        decided_ns=T0,
    ),
    "UsageData": e.UsageData(
        usage_point="up-1",
        customer="cust-1",
        consent_id="cons-1",
        start_ns=T0,
        end_ns=T0 + HOUR * S,
        interval_readings=[e.IntervalReading(start_ns=T0, duration_s=HOUR, value=800.0, cost_minor=12)],
    ),
    "RevenueProtectionCase": c.RevenueProtectionCase(
        case_id="case-1", meter="m-1", opened_ns=T0, reason="possible_tampering", contact_customer=True
    ),
    "RevenueProtectionResult": c.RevenueProtectionResult(
        case_id="case-1", meter="m-1", concluded_ns=T0, outcome="all_ok"
    ),
    "RevenueProtectionFlag": c.RevenueProtectionFlag(
        meter="m-1", flag="watch", flagged_ns=T0, reason="anomalous readings"
    ),
    "Acknowledgement": c.Acknowledgement(reply_to="msg-1", status="ok", stage="completed"),
    "Error": c.Error(
        occurred_ns=T0, errors=[c.ErrorDetail(code="2.4", reason="meter not found", object_id="m-9")], reply_to="msg-1"
    ),
    "ScheduledOutage": c.ScheduledOutage(
        outage_id="out-1", start_ns=T0, end_ns=T0 + 2 * HOUR * S, area="Feeder 12 north", service_points=["sp-1"]
    ),
    "TextMessage": h.TextMessage(
        message_id="txt-1", text="Planned outage 10:00-12:00", start_ns=T0, duration_s=HOUR, priority="high"
    ),
    "RestorationStatusRequest": c.RestorationStatusRequest(meters=["m-1", "m-2"], outage_id="out-1"),
    "RestorationStatus": c.RestorationStatus(as_of_ns=T0, not_restored=["m-2"], outage_id="out-1"),
    "OutageInfo": c.OutageInfo(
        outage_id="out-1", state="confirmed", start_ns=T0, feeders=["fdr-12"], customers_affected=340
    ),
    "MeterConnectivity": c.MeterConnectivity(
        meter="m-1", feeder="fdr-12", transformer="xfmr-7", phase="B", as_of_ns=T0, validated=True
    ),
    "PhaseConnectivity": c.PhaseConnectivity(
        feeder="fdr-12", as_of_ns=T0, phases=[c.PhaseLoad(phase="A", meters=["m-1"], load_w=1200.0)]
    ),
    "FeederSegmentLoad": c.FeederSegmentLoad(
        feeder="fdr-12", segment="seg-3", as_of_ns=T0, meters=["m-1"], load_w=54000.0, reactive_var=-1200.0
    ),
    "EndDeviceLocation": c.EndDeviceLocation(end_device="m-1", latitude=35.93, longitude=-84.31, accuracy_m=5.0),
    "BatteryStatus": c.BatteryStatus(end_device="col-1", observed_ns=T0, charge_percent=87.5, voltage_v=3.6),
    "PowerSystemMeasurements": c.PowerSystemMeasurements(
        measurements=[
            c.PowerSystemMeasurement(
                source="m-1",
                observed_ns=T0,
                phase="A",
                voltage_v=239.8,
                current_a=4.2,
                active_power_w=-900.0,
                reactive_power_var=120.0,
                frequency_hz=50.01,
                live=True,
            )
        ]
    ),
    "GetPowerSystemMeasurements": c.GetPowerSystemMeasurements(sources=["m-1"], quantities=["voltage", "frequency"]),
    "PowerQuality": c.PowerQuality(
        source="m-1",
        start_ns=T0,
        end_ns=T0 + 600 * S,
        thd_voltage_percent=3.1,
        sags=2,
        harmonics=[c.Harmonic(order=5, magnitude_percent=2.4)],
    ),
    "DAControls": c.DAControls(controls=[c.DAControl(device="cap-4", command="cap_on", reason="volt/var")]),
    "MitigationCommand": c.MitigationCommand(
        command="ignore-disconnect-commands", scope=["group-north"], reason="suspected mass-disconnect attack"
    ),
    "LoadControl": h.LoadControl(
        event="dr-1",
        start_ns=T0,
        duration_s=HOUR,
        device_category=["water_heater", "thermostat"],
        duty_cycle=50.0,
        offset=h.SetPointOffset(cooling_offset_c=2.0),
        randomize_start_s=300,
        targets=["han-1"],
    ),
    "LoadControlResponse": h.LoadControlResponse(event="dr-1", device="han-1", created_ns=T0, status="started"),
    "DERControl": h.DERControl(
        event="der-1", start_ns=T0, duration_s=HOUR, op_mod_fixed_w=-50.0, op_mod_connect=True, charge_rate_w=3000.0
    ),
    "GetDERStatus": h.GetDERStatus(devices=["han-der-1"], resources=["status", "availability"]),
    "DERStatus": h.DERStatus(
        device="han-der-1",
        observed_ns=T0,
        connected=True,
        inverter_status="tracking_mppt",
        active_power_w=-2500.0,
        state_of_charge_percent=64.0,
        control_event="der-1",
    ),
    "PEVControl": h.PEVControl(
        event="ev-1", start_ns=T0, duration_s=2 * HOUR, charge_rate_w=3600.0, target_soc_percent=80.0
    ),
    "PEVStatus": h.PEVStatus(
        device="han-ev-1",
        observed_ns=T0,
        plugged_in=True,
        charging_state="charging",
        charge_rate_w=3600.0,
        state_of_charge_percent=42.0,
    ),
    "DeviceStatus": h.DeviceStatus(
        device="han-1", device_category="water_heater", observed_ns=T0, state="cycling", control_event="dr-1"
    ),
    "TimeTariffInterval": h.TimeTariffInterval(
        interval="tti-1", program="CPP", start_ns=T0, duration_s=HOUR, tier=3, price_minor_per_kwh=75, currency="USD"
    ),
    "AssetLoading": c.AssetLoading(
        as_of_ns=T0, assets=[c.AssetLoad(asset="xfmr-7", location="Pole 7", loading_percent=112.0)]
    ),
    "EquipmentOutage": c.EquipmentOutage(equipment="recl-2", kind="momentary", start_ns=T0, end_ns=T0 + 2 * S),
    "OutageCounts": c.OutageCounts(
        start_ns=T0,
        end_ns=T0 + 86400 * S,
        counts=[c.LocationOutageCount(location="fdr-12", momentary=4, sustained=0)],
    ),
    "MaintenanceRequest": c.MaintenanceRequest(
        request_id="mr-1", asset="xfmr-7", condition="poor", priority="high", reason="predicted insulation failure"
    ),
    "WorkSchedule": c.WorkSchedule(
        work_order="wo-1",
        crew="crew-3",
        activities=[
            c.WorkActivity(
                task_id="t-1", kind="vegetation", location="Feeder 12 span 40-44", start_ns=T0, end_ns=T0 + HOUR * S
            )
        ],
    ),
    "WorkCompletion": c.WorkCompletion(work_order="wo-1", completed_ns=T0, status="completed", assets=["xfmr-7"]),
    "GetAssetInfo": c.GetAssetInfo(assets=["xfmr-7"], include_history=True),
    "AssetInfo": c.AssetInfo(
        assets=[
            c.Asset(
                asset="xfmr-7",
                kind="distribution transformer",
                location="Pole 7",
                status="in_service",
                rated_power_va=50_000.0,
                history=[c.AssetEvent(occurred_ns=T0, description="oil sampled")],
            )
        ]
    ),
    "AggregatedMeterData": c.AggregatedMeterData(
        group="zone-4",
        basis="location",
        reading_type="1.0.1.29.0.255",
        unit="Wh",
        start_ns=T0,
        interval_s=900,
        meter_count=1200,
        values=[1.5e6, 1.4e6],
    ),
    "LocationalPrices": c.LocationalPrices(
        market="DAM",
        currency="USD",
        prices=[c.LocationalPrice(node="node-9", start_ns=T0, duration_s=HOUR, price_minor_per_mwh=-350)],
    ),
    "AggregatedCustomerData": c.AggregatedCustomerData(
        group="res-zone-4",
        customer_class="residential",
        tariff="R-1",
        customer_count=1200,
        start_ns=T0,
        end_ns=T0 + 30 * 86400 * S,
        energy_wh=9.6e8,
        peak_demand_w=2.1e6,
    ),
    "TariffAnalysis": c.TariffAnalysis(
        analysis_id="ta-1",
        group="res-zone-4",
        currency="USD",
        scenarios=[
            c.TariffScenario(tariff="R-TOU", program="TOU", revenue_minor=12_000_000, average_bill_change_percent=-3.5)
        ],
    ),
    "FirmwareUpdate": h.FirmwareUpdate(
        image_id="fw-1",
        device_model="AMI-M200",
        version="2.4.1",
        size_bytes=524_288,
        sha256="ab" * 32,
        signature="cd" * 64,
        signer="firmware-signing",
        image=b"\x7fELF",
    ),
    "KeyUpdate": h.KeyUpdate(
        key_id="k-1", device="han-1", epoch=3, wrapped_key=bytes(range(40)), wrapping_key_id="k-0"
    ),
    "DREnrollment": h.DREnrollment(enrollment_id="enr-1", kind="program", account="acct-1", program="CPP"),
    "HanRegistration": h.HanRegistration(
        action="commission", device="han-1", han="esi-1", device_category="water_heater", install_code=bytes(16)
    ),
    "HanDeviceQuery": h.HanDeviceQuery(check="attachment"),
    "HanDeviceReport": h.HanDeviceReport(
        han="esi-1",
        check="attachment",
        observed_ns=1_700_000_000_000_000_000,
        devices=[h.HanDeviceCheck(device="han-1", passed=True, registered=True, responded=True, claimed_han="esi-1")],
    ),
}
