"""The ESI's registry of its HAN's devices: commission, join, attachment, decommission (DR-08/09/14/16).

A device is commissioned on one HAN with the install code printed on it (the LMS/DRMS's
commissioning order carries it to the ESI). The device then joins proving it knows the code:
an HMAC-SHA256 under the install code over its address and the HAN's. After the join the code
is forgotten (it admits a device once). Attachment verification compares what a device
claims (its HAN) with the registry, so a device claiming another HAN, or one this HAN never
commissioned, is found. Decommissioning removes the device for good.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Literal

INSTALL_CODE_BYTES = 16
State = Literal["commissioned", "joined", "decommissioned"]


class RegistryError(ValueError):
    """A registration the ESI refuses (unknown device, wrong HAN, bad install-code proof, ...)."""


def join_proof(install_code: bytes, device: str, han: str) -> str:
    """What a joining device sends: HMAC-SHA256 under its install code over its address and the HAN's."""
    if len(install_code) != INSTALL_CODE_BYTES:
        raise RegistryError(f"install code must be {INSTALL_CODE_BYTES} bytes, got {len(install_code)}")
    return hmac.new(install_code, f"amisys-han-join/1|{device}|{han}".encode(), hashlib.sha256).hexdigest()


@dataclass
class HanDevice:
    address: str
    category: str | None
    model: str | None
    commissioned_ns: int
    state: State = "commissioned"
    joined_ns: int | None = None
    decommissioned_ns: int | None = None
    programs: set[str] = field(default_factory=set)
    _install_code: bytes | None = field(default=None, repr=False)


@dataclass
class HanRegistry:
    """The devices of one HAN, kept by its ESI (``han`` is the ESI's address)."""

    han: str
    devices: dict[str, HanDevice] = field(default_factory=dict)

    def commission(
        self, device: str, install_code: bytes, now_ns: int, *, category: str | None = None, model: str | None = None
    ) -> HanDevice:
        if len(install_code) != INSTALL_CODE_BYTES:
            raise RegistryError(f"install code must be {INSTALL_CODE_BYTES} bytes, got {len(install_code)}")
        known = self.devices.get(device)
        if known is not None and known.state != "decommissioned":
            raise RegistryError(f"{device} is already {known.state} on {self.han}")
        if known is not None:
            raise RegistryError(f"{device} was decommissioned from {self.han}; a device is not re-admitted")
        entry = HanDevice(device, category, model, now_ns, _install_code=install_code)
        self.devices[device] = entry
        return entry

    def join(self, device: str, claimed_han: str, proof: str, now_ns: int) -> HanDevice:
        """Admit a commissioned device that proves it holds the install code registered for it."""
        entry = self.devices.get(device)
        if entry is None:
            raise RegistryError(f"{device} is not commissioned on {self.han}")
        if claimed_han != self.han:
            raise RegistryError(f"{device} asks to join {claimed_han}, this is {self.han}")
        if entry.state != "commissioned" or entry._install_code is None:
            raise RegistryError(f"{device} is {entry.state} on {self.han}; its install code was used already")
        if not hmac.compare_digest(join_proof(entry._install_code, device, self.han), proof):
            raise RegistryError(f"{device} does not prove the install code registered for it")
        entry.state = "joined"
        entry.joined_ns = now_ns
        entry._install_code = None
        return entry

    def decommission(self, device: str, now_ns: int) -> HanDevice:
        entry = self.devices.get(device)
        if entry is None or entry.state == "decommissioned":
            raise RegistryError(f"{device} is not on {self.han}")
        entry.state = "decommissioned"
        entry.decommissioned_ns = now_ns
        entry._install_code = None
        entry.programs.clear()
        return entry

    def attached(self, device: str) -> bool:
        entry = self.devices.get(device)
        return entry is not None and entry.state == "joined"

    def joined(self) -> list[str]:
        return sorted(d for d, e in self.devices.items() if e.state == "joined")

    def attachment_problems(self, device: str, claimed_han: str | None) -> list[str]:
        """Why a device's claim does not match this HAN's registry (empty: it belongs here)."""
        entry = self.devices.get(device)
        problems = []
        if entry is None:
            problems.append(f"not commissioned on {self.han}")
        elif entry.state != "joined":
            problems.append(f"{entry.state}, not joined")
        if claimed_han is None:
            problems.append("does not say which HAN it is on")
        elif claimed_han != self.han:
            problems.append(f"claims HAN {claimed_han}, registered on {self.han}")
        return problems

    def enroll(self, device: str, program: str) -> HanDevice:
        """Put a joined device in a DR program (DR-03); only a device attached to this HAN."""
        if not self.attached(device):
            raise RegistryError(f"{device} is not attached to {self.han}; commission and join it first")
        entry = self.devices[device]
        entry.programs.add(program)
        return entry
