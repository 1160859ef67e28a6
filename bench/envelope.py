"""Seal and open rates at each protection level, against the raw primitives they use.

Run: .venv/bin/python bench/envelope.py [--seconds S]

For each protection level (a real catalog flow carrying MeterReadings with 1 or 96
intervals), the full endpoint path is timed — authorization from the catalog, header,
payload validation, AES-GCM or HMAC, ECDSA P-256 where I-High, and on opening every
check of a receiver — and compared, in the same run, with the `cryptography` primitives
that level uses on the same bytes. The ratio is endpoint time over primitive time; the
target is 1.3x. Single-threaded: figures are per core of this 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from amisys.bus import InProcessBus
from amisys.catalog import Level, load
from amisys.messages import cim, encode
from amisys.messages.examples import SAMPLES
from amisys.security import envelope as env
from amisys.security.audit import AuditLog
from amisys.security.endpoint import SecureEndpoint, SecurityContext
from amisys.security.pki import Pki
from amisys.security.policy import Policy

T0 = 1_767_225_600_000_000_000
LEVELS = [  # (label, flow, direction, sender role, receiver role, noun)
    ("C-Low  I-Low ", "5.1.3-r2", "reply", "meter", "ami-headend", "MeterReadings"),
    ("C-Low  I-High", "4.1.2-r1", "request", "meter", "ami-headend", "PowerSystemMeasurements"),
    ("C-Med  I-Med ", "4.4.1-r1", "request", "meter", "ami-headend", "PowerQuality"),
    ("C-High I-Med ", "3.1.2-r2", "reply", "ami-headend", "cis", "MeterReadings"),
    ("C-High I-High", "3.1.1-r2", "reply", "meter", "ami-headend", "MeterReadings"),
]


def readings(intervals: int) -> cim.MeterReadings:
    block = cim.IntervalBlock(
        reading_type="1.0.1.29.0.255",
        start_ns=T0,
        interval_s=900,
        unit="Wh",
        values=[float(100 + k % 37) for k in range(intervals)],
        qualities=["valid"] * intervals,
    )
    return cim.MeterReadings(meter_readings=[cim.MeterReading(meter="meter:1", interval_blocks=[block])])


def rate(fn: Callable[[], object], seconds: float) -> float:
    """Calls per second of fn over about ``seconds``."""
    n, start = 0, time.perf_counter()
    batch = 1
    while True:
        for _ in range(batch):
            fn()
        n += batch
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return n / elapsed
        batch = min(batch * 2, 4096)


def endpoints(cat, role_a: str, role_b: str) -> tuple[SecureEndpoint, SecureEndpoint]:
    pki = Pki()
    ctx = SecurityContext(pki, cat, Policy(cat), AuditLog(), replay_window=1 << 16, max_age_s=3600)
    bus = InProcessBus()
    names = {r: f"{r}:1" if r == "meter" else r for r in (role_a, role_b)}
    make = {r: pki.commission if r == "meter" else pki.issue for r in names}
    a = SecureEndpoint(make[role_a](names[role_a], role_a), ctx, bus)
    b = SecureEndpoint(make[role_b](names[role_b], role_b), ctx, bus)
    return a, b


def measure(cat, label, flow, direction, role_a, role_b, noun, payload, seconds) -> tuple[float, float, float, float]:
    a, b = endpoints(cat, role_a, role_b)
    process = next(p.id for p in cat.processes.values() if p.table == flow.rsplit("-", 1)[0])
    sealed_list: list[bytes] = []

    def seal() -> None:
        sealed, _, _ = a.seal(b.address, flow=flow, direction=direction, noun=noun, payload=payload, process=process)
        sealed_list.append(env.to_bytes(sealed))

    seal_rate = rate(seal, seconds)
    blobs = iter(sealed_list)

    def open_one() -> None:
        sealed, header = env.decode(next(blobs))
        b._verify(sealed, header)

    count = len(sealed_list)
    start = time.perf_counter()
    for _ in range(count):
        open_one()
    open_rate = count / (time.perf_counter() - start)

    rule = cat.flows_by_id[flow]
    aead = cat.protection_level(rule, "C") >= Level.MEDIUM
    signed = cat.protection_level(rule, "I") >= Level.HIGH
    body = encode(payload)
    prim_seal, prim_open = primitive_rates(body, aead, signed, seconds)
    return seal_rate, open_rate, prim_seal, prim_open


def primitive_rates(body: bytes, aead: bool, signed: bool, seconds: float) -> tuple[float, float]:
    """Rates of only the cryptography calls a level makes on a payload of this size."""
    key = os.urandom(16)
    cipher = AESGCM(key)
    mac_key = os.urandom(32)
    signer = ec.generate_private_key(ec.SECP256R1())
    public = signer.public_key()
    aad = os.urandom(160)
    nonce = os.urandom(12)
    ct = cipher.encrypt(nonce, body, aad)
    sig = signer.sign(aad + ct, ec.ECDSA(hashes.SHA256()))

    def mac() -> bytes:
        h = hmac.HMAC(mac_key, hashes.SHA256())
        h.update(aad)
        h.update(body)
        return h.finalize()

    def p_seal() -> None:
        out = cipher.encrypt(os.urandom(12), body, aad) if aead else mac()
        if signed:
            signer.sign(aad + out, ec.ECDSA(hashes.SHA256()))

    def p_open() -> None:
        if aead:
            cipher.decrypt(nonce, ct, aad)
        else:
            mac()
        if signed:
            public.verify(sig, aad + ct, ec.ECDSA(hashes.SHA256()))

    return rate(p_seal, seconds), rate(p_open, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.5, help="time per measurement")
    args = parser.parse_args()
    cat = load()
    print(
        f"amisys envelope benchmark — {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, one core used"
    )
    print(
        f"{'level':14} {'payload':>12} {'seal/s':>9} {'prim/s':>9} {'ratio':>6}"
        f"   {'open/s':>9} {'prim/s':>9} {'ratio':>6}"
    )
    worst = 0.0
    for label, flow, direction, a, b, noun in LEVELS:
        payloads = (
            [("1 interval", readings(1)), ("96 intervals", readings(96))]
            if noun == "MeterReadings"
            else [("sample", SAMPLES[noun])]
        )
        for size, payload in payloads:
            s, o, ps, po = measure(cat, label, flow, direction, a, b, noun, payload, args.seconds)
            rs, ro = ps / s, po / o
            worst = max(worst, rs, ro)
            per_interval = f"   = {s * 96:,.0f} intervals/s sealed" if size.startswith("96") else ""
            print(f"{label:14} {size:>12} {s:9.0f} {ps:9.0f} {rs:5.2f}x   {o:9.0f} {po:9.0f} {ro:5.2f}x{per_interval}")
    print(f"worst ratio {worst:.2f}x (target 1.30x: endpoint time / time of the primitives it uses)")


if __name__ == "__main__":
    main()
