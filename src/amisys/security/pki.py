"""The utility's PKI: root and issuing CA, one ECDSA P-256 identity per actor instance and device.

Names are bus addresses (``mdms``, ``meter:000042``); the certificate's OU carries the
catalog actor id (the role authorization checks). Rotation issues a new key *epoch*
while the old one keeps working until the overlap ends; revocation and decommissioning
make every epoch of a name fail everywhere, because every receiver asks this directory.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

UTC = dt.UTC
DEVICE_ROLES = frozenset(
    {
        "meter",
        "sub-meter",
        "esi-han-gateway",
        "da-field-device",
        "street-light",
        "electric-vehicle",
        "customer-der",
        "customer-appliances",
        "customer-ems",
    }
)


class IdentityError(Exception):
    """A certificate or identity cannot be trusted; the message carrying it is refused."""


class UnknownIdentity(IdentityError):
    pass


class RevokedIdentity(IdentityError):
    pass


@dataclass
class Identity:
    """What an actor instance or device holds: its name, role, key and certificate."""

    name: str
    role: str
    epoch: int
    private_key: ec.EllipticCurvePrivateKey = field(repr=False)
    certificate: x509.Certificate = field(repr=False)

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self.private_key.public_key()


@dataclass
class _Entry:
    role: str
    certificates: dict[int, x509.Certificate] = field(default_factory=dict)
    windows: dict[int, tuple[dt.datetime, dt.datetime]] = field(default_factory=dict)
    current: int = 0
    retired: set[int] = field(default_factory=set)
    revoked: bool = False
    reason: str = ""


def _name(common: str, unit: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "amisys utility")]
    if unit:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common))
    return x509.Name(attrs)


def _key_usage(**allowed: bool) -> x509.KeyUsage:
    """KeyUsage with only the named usages set."""
    usages = (
        "digital_signature",
        "content_commitment",
        "key_encipherment",
        "data_encipherment",
        "key_agreement",
        "key_cert_sign",
        "crl_sign",
        "encipher_only",
        "decipher_only",
    )
    return x509.KeyUsage(**{u: allowed.get(u, False) for u in usages})


class Pki:
    """Root CA, issuing CA and the directory of every identity's certificates and status."""

    def __init__(
        self,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(UTC),
        validity: dt.timedelta = dt.timedelta(days=3650),
    ) -> None:
        self._clock = clock
        self._validity = validity
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._revoked_serials: dict[int, dt.datetime] = {}
        self._chain_ok: set[bytes] = set()  # signature checks are costly and a certificate never changes
        self.root_key = ec.generate_private_key(ec.SECP256R1())
        self.root_certificate = self._ca_certificate("amisys root CA", self.root_key, None, None, path_length=1)
        self.issuing_key = ec.generate_private_key(ec.SECP256R1())
        self.issuing_certificate = self._ca_certificate(
            "amisys issuing CA", self.issuing_key, self.root_certificate, self.root_key, path_length=0
        )

    def _ca_certificate(
        self,
        common: str,
        key: ec.EllipticCurvePrivateKey,
        issuer: x509.Certificate | None,
        issuer_key: ec.EllipticCurvePrivateKey | None,
        path_length: int,
    ) -> x509.Certificate:
        now = self._clock()
        subject = _name(common)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer.subject if issuer else subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + self._validity * 2)
            .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
            .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        )
        return builder.sign(issuer_key or key, hashes.SHA256())

    def _issue_certificate(self, name: str, role: str, epoch: int, key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
        now = self._clock()
        return (
            x509.CertificateBuilder()
            .subject_name(_name(name, role))
            .issuer_name(self.issuing_certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + self._validity)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                _key_usage(digital_signature=True, content_commitment=True, key_agreement=True), critical=True
            )
            .add_extension(
                x509.SubjectAlternativeName([x509.UniformResourceIdentifier(f"amisys:{name}#{epoch}")]), False
            )
            .sign(self.issuing_key, hashes.SHA256())
        )

    # -- lifecycle -------------------------------------------------------------------

    def issue(self, name: str, role: str) -> Identity:
        """A new identity (epoch 1). Refuses a name that exists, revoked or not."""
        with self._lock:
            if name in self._entries:
                raise IdentityError(f"identity {name!r} already exists")
            entry = _Entry(role=role)
            self._entries[name] = entry
            return self._new_epoch(name, entry)

    def commission(self, device_id: str, role: str) -> Identity:
        """Bring a field device into service with its own key and certificate."""
        if role not in DEVICE_ROLES:
            raise IdentityError(f"{role!r} is not a field device role ({', '.join(sorted(DEVICE_ROLES))})")
        return self.issue(device_id, role)

    def _new_epoch(self, name: str, entry: _Entry) -> Identity:
        epoch = entry.current + 1
        key = ec.generate_private_key(ec.SECP256R1())
        cert = self._issue_certificate(name, entry.role, epoch, key)
        entry.certificates[epoch] = cert
        entry.windows[epoch] = (cert.not_valid_before_utc, cert.not_valid_after_utc)
        entry.current = epoch
        return Identity(name=name, role=entry.role, epoch=epoch, private_key=key, certificate=cert)

    def rotate(self, name: str) -> Identity:
        """Start a rotation: a new epoch; earlier epochs keep working until end_overlap."""
        with self._lock:
            entry = self._live(name)
            return self._new_epoch(name, entry)

    def end_overlap(self, name: str) -> None:
        """Finish a rotation: every epoch but the current stops working."""
        with self._lock:
            entry = self._live(name)
            for epoch, cert in entry.certificates.items():
                if epoch != entry.current and epoch not in entry.retired:
                    entry.retired.add(epoch)
                    self._revoked_serials[cert.serial_number] = self._clock()

    def revoke(self, name: str, reason: str = "key compromise") -> None:
        """Every epoch of the name is refused from now on, by every receiver."""
        with self._lock:
            entry = self._entry(name)
            entry.revoked = True
            entry.reason = reason
            for cert in entry.certificates.values():
                self._revoked_serials.setdefault(cert.serial_number, self._clock())

    def decommission(self, device_id: str) -> None:
        """Take a device out of service: revoked, never to be issued again under that name."""
        self.revoke(device_id, reason="decommissioned")

    # -- directory -------------------------------------------------------------------

    def _entry(self, name: str) -> _Entry:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownIdentity(f"no identity {name!r} in the utility's directory") from None

    def _live(self, name: str) -> _Entry:
        entry = self._entry(name)
        if entry.revoked:
            raise RevokedIdentity(f"identity {name!r} is revoked ({entry.reason})")
        return entry

    def role(self, name: str) -> str:
        return self._entry(name).role

    def current_epoch(self, name: str) -> int:
        return self._live(name).current

    def check(self, name: str, epoch: int) -> None:
        """Is this epoch of this name trusted now? Raises if unknown, revoked, retired or expired.

        The directory's own certificates were signed by its issuing CA when issued, so
        this per-message check is lookups only; :meth:`validate` checks a foreign one.
        """
        entry = self._entries.get(name)
        if entry is None:
            raise UnknownIdentity(f"no identity {name!r} in the utility's directory")
        if entry.revoked:
            raise RevokedIdentity(f"identity {name!r} is revoked ({entry.reason})")
        window = entry.windows.get(epoch)
        if window is None:
            raise UnknownIdentity(f"identity {name!r} has no key epoch {epoch}")
        if epoch in entry.retired:
            raise RevokedIdentity(f"key epoch {epoch} of {name!r} was retired by rotation")
        if not window[0] <= self._clock() <= window[1]:
            raise IdentityError(f"certificate of {name!r} epoch {epoch} is outside its validity period")

    def certificate(self, name: str, epoch: int) -> x509.Certificate:
        """The certificate of a live epoch."""
        self.check(name, epoch)
        return self._entries[name].certificates[epoch]

    def validate(self, cert: x509.Certificate) -> None:
        """Chain to the issuing CA, validity period and revocation."""
        fingerprint = cert.fingerprint(hashes.SHA256())
        if fingerprint not in self._chain_ok:
            try:
                cert.verify_directly_issued_by(self.issuing_certificate)
            except (ValueError, TypeError) as exc:
                raise IdentityError(f"certificate not issued by the utility's issuing CA: {exc}") from None
            except Exception as exc:
                raise IdentityError(f"certificate signature invalid: {exc.__class__.__name__}") from None
            self._chain_ok.add(fingerprint)
        now = self._clock()
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise IdentityError(f"certificate {cert.serial_number:x} outside its validity period")
        if cert.serial_number in self._revoked_serials:
            raise RevokedIdentity(f"certificate {cert.serial_number:x} is revoked")

    def crl(self) -> x509.CertificateRevocationList:
        """The issuing CA's revocation list, for receivers that work from a CRL."""
        now = self._clock()
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.issuing_certificate.subject)
            .last_update(now)
            .next_update(now + dt.timedelta(days=1))
        )
        for serial, when in self._revoked_serials.items():
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build()
            )
        return builder.sign(self.issuing_key, hashes.SHA256())
