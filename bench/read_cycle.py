"""Daily interval read cycle: meters → head end → MDMS → store → billing determinants.

Run: .venv/bin/python bench/read_cycle.py [--meters 10000] [--workers 2]

Every control is on: each meter seals its day of 96 intervals in one envelope
(AES-GCM end to end to the MDMS, ECDSA P-256 signature, MACed hop), the head end
verifies the hop, authorization and the signature and relays it unread, the MDMS
opens it (authorization, replay, signature, decryption, payload validation), runs VEE,
stores the intervals idempotently in the columnar interval store (DuckDB) and computes
the day's TOU determinants (the numpy fast paths of VEE and determinants);
every decision is audited in a hash-chained log. Meters are split into shards (a head
end / MDMS instance each, with its own directory replica, audit log and store file), each
run in a fresh worker process, at most one per core; within a shard meters are
commissioned in waves, so memory stays bounded. The crypto + storage limit is measured in
the same run: the rate if only the primitives and the store ingest ran.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from amisys.billing.tou import two_period
from amisys.bus import Bus, Delivery, Outcome
from amisys.catalog import load
from amisys.mdms import fast
from amisys.mdms.vee import QUALITIES
from amisys.messages import cim
from amisys.security.audit import AuditLog
from amisys.security.endpoint import Opened, SecureEndpoint, SecurityContext
from amisys.security.pki import Pki
from amisys.security.policy import Policy
from amisys.store.interval_duck import DuckIntervalRepository

NS = 1_000_000_000
DAY_NS = 86_400 * NS
T0 = 1_767_225_600 * NS + 5 * 3600 * NS  # 2026-01-01 local midnight (UTC-5)
IMPORT = "1.0.1.29.0.255"


class Wire(Bus):
    """Hands each published envelope straight to the next stage (no queueing), for throughput."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[Delivery] = []

    async def publish(self, delivery: Delivery) -> None:
        self.sent.append(delivery)

    async def request(self, delivery: Delivery, timeout: float) -> Outcome:  # pragma: no cover - unused
        raise NotImplementedError

    def subscribe(self, address, handler) -> None:
        pass

    def unsubscribe(self, address: str) -> None:
        pass

    def health(self) -> dict:
        return {}

    async def start(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


def day_of(meter: str, seed: int) -> cim.MeterReadings:
    values = [100.0 + ((seed * 31 + k * 7) % 200) for k in range(96)]
    block = cim.IntervalBlock(
        reading_type=IMPORT, start_ns=T0, interval_s=900, unit="Wh", values=values, qualities=["valid"] * 96
    )
    return cim.MeterReadings(meter_readings=[cim.MeterReading(meter=meter, interval_blocks=[block])])


async def run_shard(first: int, count: int, wave: int, workdir: str) -> dict[str, float]:
    """One worker: commission its meters wave by wave and carry each one's day through the pipeline."""
    catalog = load()
    now = [T0 + DAY_NS + 60 * NS]
    pki = Pki()
    audit = AuditLog(Path(workdir) / f"audit-{first}.jsonl", clock=lambda: now[0])
    ctx = SecurityContext(pki, catalog, Policy(catalog), audit, clock_ns=lambda: now[0], replay_window=64)
    wire = Wire()
    headend = SecureEndpoint(pki.issue("ami-headend", "ami-headend"), ctx, wire)
    mdms = SecureEndpoint(pki.issue("mdms", "mdms"), ctx, wire)
    store = DuckIntervalRepository(Path(workdir) / f"intervals-{first}.duckdb", clock=lambda: now[0], threads=1)
    schedule = two_period()
    received: list[Opened] = []

    async def relay(message: Opened) -> None:
        await headend.forward(message, "mdms", flow="3.1.1-r1")

    async def keep(message: Opened) -> None:
        received.append(message)

    headend.handler, mdms.handler = relay, keep
    totals = {"intervals": 0.0, "seconds": 0.0, "commission_s": 0.0}
    for start in range(first, first + count, wave):
        t = time.perf_counter()
        meters = [
            SecureEndpoint(pki.commission(f"meter:{n:07d}", "meter"), ctx, wire)
            for n in range(start, min(first + count, start + wave))
        ]
        for meter in meters:  # key establishment at installation: pair keys with the MDMS and the head end
            meter._key(1, "mdms", 1, "aead")
            meter._key(1, "ami-headend", 1, "mac")
            mdms._key(1, meter.address, 1, "aead")
            headend._key(1, meter.address, 1, "mac")
        totals["commission_s"] += time.perf_counter() - t
        t = time.perf_counter()
        names: list[str] = []
        day_values: list[np.ndarray] = []
        day_qualities: list[np.ndarray] = []
        for k, meter in enumerate(meters):
            await meter.send(
                "ami-headend",
                flow="3.1.1-r2",
                direction="reply",
                noun="MeterReadings",
                payload=day_of(meter.address, start + k),
                process="3.1.1",
                destination="mdms",
                via=["3.1.1-r1"],
            )
            await headend._on_delivery(wire.sent.pop())
            outcome = await mdms._on_delivery(wire.sent.pop())
            assert outcome.decision == "accepted", outcome
            reading = received.pop().payload.meter_readings[0]  # type: ignore[attr-defined]
            block = reading.interval_blocks[0]
            day = fast.validate_day(
                reading.meter, IMPORT, block.start_ns, np.asarray(block.values), block.qualities, T0, T0 + DAY_NS
            )
            fast.tou_totals(schedule, T0, day.values, qualities=day.qualities)
            names.append(reading.meter)
            day_values.append(day.values)
            day_qualities.append(day.qualities)
        starts = T0 + np.arange(96, dtype=np.int64) * 900 * NS
        quality_names = np.asarray(QUALITIES)[np.stack(day_qualities)]
        store.ingest_arrays(names, IMPORT, starts, np.stack(day_values), quality_names, "ami-headend", now[0])
        rows_done = len(names) * 96
        totals["seconds"] += time.perf_counter() - t
        totals["intervals"] += rows_done
        del meters
    audit.close()
    store.close()
    totals["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    totals["audit_records"] = float(len(audit))
    return totals


def worker(args: tuple[int, int, int, str]) -> dict[str, float]:
    return asyncio.run(run_shard(*args))


def limit_per_meter_s(workdir: str, samples: int = 2000) -> tuple[float, float]:
    """Seconds per meter-day for the primitives alone, and for the store ingest alone."""
    body = os.urandom(1400)
    aad = os.urandom(200)
    key = AESGCM(os.urandom(16))
    signer = ec.generate_private_key(ec.SECP256R1())
    public = signer.public_key()
    mac_key = os.urandom(32)
    t = time.perf_counter()
    for _ in range(samples):
        nonce = os.urandom(12)
        ct = key.encrypt(nonce, body, aad)
        sig = signer.sign(aad + ct, ec.ECDSA(hashes.SHA256()))
        for _ in range(2):  # the head end's and the MDMS's checks
            public.verify(sig, aad + ct, ec.ECDSA(hashes.SHA256()))
            h = hmac.HMAC(mac_key, hashes.SHA256())
            h.update(aad + ct)
            h.finalize()
        key.decrypt(nonce, ct, aad)
    crypto = (time.perf_counter() - t) / samples
    store = DuckIntervalRepository(Path(workdir) / "limit.duckdb", threads=1)
    meters = [f"m{m}" for m in range(samples)]
    starts = T0 + np.arange(96, dtype=np.int64) * 900 * NS
    values = np.ones((samples, 96))
    t = time.perf_counter()
    store.ingest_arrays(meters, IMPORT, starts, values, "valid", "x", T0)
    ingest = (time.perf_counter() - t) / samples
    store.close()
    return crypto, ingest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--wave", type=int, default=5_000, help="meters commissioned at a time in a worker")
    parser.add_argument(
        "--shard", type=int, default=100_000, help="meters per shard (one head end / MDMS instance, in a fresh process)"
    )
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="amisys-readcycle-")
    print(
        f"amisys read cycle — {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{args.meters:,} meters x 96 intervals, {args.workers} worker(s)"
    )
    share = min(args.shard, -(-args.meters // args.workers))
    jobs = [(first, min(share, args.meters - first), args.wave, workdir) for first in range(0, args.meters, share)]
    workers = min(args.workers, len(jobs))
    t = time.perf_counter()
    with mp.get_context("fork").Pool(workers, maxtasksperchild=1) as pool:
        results = pool.map(worker, jobs, chunksize=1)
    wall = time.perf_counter() - t
    intervals = sum(r["intervals"] for r in results)
    cycle = sum(r["seconds"] for r in results) / workers
    commission = sum(r["commission_s"] for r in results) / workers
    crypto_s, ingest_s = limit_per_meter_s(workdir)
    limit = 96 / (crypto_s + ingest_s) * workers
    rate = intervals / cycle
    print(f"commissioning (identities, certificates): {commission:.1f} s")
    print(f"read cycle: {intervals:,.0f} interval reads in {cycle:.1f} s = {rate:,.0f} interval reads/s")
    print(
        f"crypto + storage limit in this run: {limit:,.0f} interval reads/s "
        f"(primitives {crypto_s * 1e6:.0f} us + ingest {ingest_s * 1e6:.0f} us per meter-day, x{workers} workers)"
    )
    print(f"ratio achieved/limit: {rate / limit:.2f}")
    print(
        f"peak memory per worker: {max(r['peak_rss_mb'] for r in results):,.0f} MB; "
        f"audit records: {sum(r['audit_records'] for r in results):,.0f}; wall {wall:.1f} s"
    )
    print("target: >= 270,000 interval reads/s (1,000,000 meters x 96 in <= 6 min) within 4 GB")


if __name__ == "__main__":
    main()
