"""Authorization from the catalog: default deny.

A leg is allowed only as a seed row (or a resolution's bridge) says: on that interface,
from that role to that role, a request of the row's *sent* kinds or a reply of its
*returned* kinds. Everything else is refused. The levels to protect a leg at come from
the same place, so authorization and protection cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

from amisys.catalog import DIMENSIONS, Catalog, Dimension, Level
from amisys.catalog.catalog import Direction
from amisys.requirements.derive import Requirements


class Unauthorized(PermissionError):
    """A message the catalog does not allow; refused and audited."""


@dataclass(frozen=True)
class LegRule:
    subject: str
    table: str
    interface: str
    sender: str
    receiver: str
    direction: Direction
    kinds: frozenset[str]
    c: Level
    i: Level
    a: Level

    def level(self, dim: Dimension) -> Level:
        return {"C": self.c, "I": self.i, "A": self.a}[dim]


class Policy:
    def __init__(self, catalog: Catalog, requirements: Requirements | None = None) -> None:
        self.catalog = catalog
        self._rules: dict[tuple[str, str], LegRule] = {}
        self._levels: dict[tuple[LegRule, ...], dict[Dimension, Level]] = {}
        for leg in (requirements or Requirements(catalog)).legs:
            for direction in ("request", "reply"):
                sender, receiver = (leg.from_, leg.to) if direction == "request" else (leg.to, leg.from_)
                self._rules[(leg.subject, direction)] = LegRule(
                    subject=leg.subject,
                    table=leg.via or leg.flow.table,
                    interface=leg.interface,
                    sender=sender,
                    receiver=receiver,
                    direction=direction,
                    kinds=catalog.kinds(leg.flow, direction),
                    c=leg.c,
                    i=leg.i,
                    a=leg.a,
                )

    def rule(self, subject: str, direction: str) -> LegRule:
        try:
            return self._rules[(subject, direction)]
        except KeyError:
            raise Unauthorized(f"no seed flow {subject!r} ({direction})") from None

    def authorize(
        self, subject: str, direction: str, interface: str, sender_role: str, receiver_role: str, noun: str
    ) -> LegRule:
        """The rule allowing this leg, or Unauthorized saying what the catalog does not allow."""
        rule = self.rule(subject, direction)
        if interface != rule.interface:
            raise Unauthorized(f"flow {subject} runs on {rule.interface}, not {interface}")
        if (sender_role, receiver_role) != (rule.sender, rule.receiver):
            raise Unauthorized(
                f"{sender_role} may not send {direction}s of flow {subject} to {receiver_role} on {interface}"
                f" (the seed allows {rule.sender} → {rule.receiver})"
            )
        if noun not in rule.kinds:
            allowed = ", ".join(sorted(rule.kinds)) or "nothing"
            raise Unauthorized(
                f"{sender_role} may not send {noun} as {direction} of flow {subject}; allowed: {allowed}"
            )
        return rule

    def flows_of(self, process_id: str) -> str:
        """The table whose legs a message of this process (or DR subfunction) may use."""
        return self.catalog.table_of(process_id)

    def levels(self, rules: list[LegRule]) -> dict[Dimension, Level]:
        """High-water C/I/A over the legs a message travels (cached: the set of legs is small)."""
        key = tuple(rules)
        found = self._levels.get(key)
        if found is None:
            found = self._levels[key] = {d: max(r.level(d) for r in rules) for d in DIMENSIONS}
        return found
