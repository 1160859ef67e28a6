"""The utility's tariff book: the tariffs customers can be on, by name.

Accounts name their tariff; Billing prices with it and the MDMS computes determinants
with its TOU schedule. Prices are illustrative residential figures in cents per kWh.
"""

from __future__ import annotations

from collections.abc import Iterable

from amisys.billing.tariffs import (
    CppTariff,
    FeedInTariff,
    FlatTariff,
    NetMeteringTariff,
    PrepaymentTariff,
    Tariff,
    TouTariff,
)
from amisys.billing.tou import TouSchedule, two_period


class TariffBook:
    def __init__(self, timezone: str = "America/New_York", cpp_events: Iterable[tuple[int, int]] = ()) -> None:
        self.schedule: TouSchedule = two_period(timezone)
        tou = TouTariff(self.schedule, {"on_peak": "28.5", "off_peak": "11.2"}, fixed_monthly_minor=1200)
        flat = FlatTariff("15.35", fixed_monthly_minor=1200)
        self.tariffs: dict[str, Tariff] = {
            "residential-flat": flat,
            "residential-tou": tou,
            "net-metering-tou": NetMeteringTariff(tou),
            "feed-in": FeedInTariff(flat, feed_in_cents_per_kwh="9.1"),
            "residential-cpp": CppTariff(tou, critical_cents_per_kwh="75.0", events=tuple(cpp_events)),
            "prepayment": PrepaymentTariff("16.0"),
        }

    def __getitem__(self, name: str) -> Tariff:
        try:
            return self.tariffs[name]
        except KeyError:
            raise KeyError(f"no tariff {name!r}; the book has {', '.join(sorted(self.tariffs))}") from None

    def schedule_of(self, name: str) -> TouSchedule | None:
        """The TOU schedule a tariff prices by, if any (flat tariffs have none)."""
        tariff = self[name]
        retail = getattr(tariff, "retail", tariff)
        retail = getattr(retail, "tou", retail)
        return getattr(retail, "schedule", None)

    def add_cpp_event(self, start_ns: int, end_ns: int) -> None:
        """Declare a critical peak event (5.3.3): the CPP tariff prices import in it critically."""
        cpp = self.tariffs["residential-cpp"]
        assert isinstance(cpp, CppTariff)
        self.tariffs["residential-cpp"] = CppTariff(
            cpp.tou, cpp.critical_cents_per_kwh, events=(*cpp.events, (start_ns, end_ns))
        )
