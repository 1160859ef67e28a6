"""Signed HAN firmware (DR-04): images signed by the utility's firmware-signing key, checked by the device.

The signing key is an ECDSA P-256 identity issued by the utility's PKI under the role
``firmware-signing``. A device keeps two slots (A/B) and runs one. An image is written to
the other slot only after every check has passed (size, SHA-256 digest, model, a signature
by a live firmware-signing identity of the PKI, and a version above the running one:
anti-rollback), and only then becomes the running one. A refused image never touches the
running slot, so the device keeps running what it ran.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from amisys.messages import han
from amisys.security.pki import Identity, IdentityError, Pki

FIRMWARE_SIGNING_ROLE = "firmware-signing"
_VERSION = re.compile(r"\A(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?\Z")
_SIGNATURE = ec.ECDSA(hashes.SHA256())


class FirmwareRejected(ValueError):
    """An image the device refuses; ``check`` names the check that failed."""

    def __init__(self, check: str, reason: str) -> None:
        super().__init__(f"firmware refused ({check}): {reason}")
        self.check = check
        self.reason = reason


def version_key(version: str) -> tuple[int, int, int, int, str]:
    """Semantic-version order: a pre-release (``2.0.0-rc1``) sorts below its release; build metadata is ignored."""
    m = _VERSION.match(version)
    if m is None:
        raise FirmwareRejected("version", f"{version!r} is not a semantic version")
    major, minor, patch, pre = m.groups()
    return int(major), int(minor), int(patch), 0 if pre else 1, pre or ""


def signed_blob(image_id: str, model: str, version: str, size: int, sha256: str) -> bytes:
    """What the signature covers: the image's identity, target model, version, size and digest."""
    return f"amisys-firmware/1|{image_id}|{model}|{version}|{size}|{sha256}".encode()


class FirmwareSigner:
    """The utility's firmware-signing key, an identity of its PKI."""

    def __init__(self, identity: Identity) -> None:
        if identity.role != FIRMWARE_SIGNING_ROLE:
            raise IdentityError(f"{identity.name!r} is a {identity.role!r} identity, not {FIRMWARE_SIGNING_ROLE!r}")
        self.identity = identity

    @classmethod
    def issue(cls, pki: Pki, name: str = "firmware-signing:utility") -> FirmwareSigner:
        return cls(pki.issue(name, FIRMWARE_SIGNING_ROLE))

    def sign(
        self, image_id: str, model: str, version: str, image: bytes, *, targets: list[str] | None = None
    ) -> han.FirmwareUpdate:
        """A FirmwareUpdate carrying ``image`` and the signature over its identity and digest."""
        version_key(version)
        digest = hashlib.sha256(image).hexdigest()
        signature = self.identity.private_key.sign(
            signed_blob(image_id, model, version, len(image), digest), _SIGNATURE
        )
        return han.FirmwareUpdate(
            image_id=image_id,
            device_model=model,
            version=version,
            size_bytes=len(image),
            sha256=digest,
            signature=signature.hex(),
            signer=self.identity.name,
            image=image,
            targets=targets or [],
        )


def verify(update: han.FirmwareUpdate, pki: Pki, *, model: str, running: str) -> None:
    """Every check a device makes before it writes an image; FirmwareRejected names the first that fails."""
    if len(update.image) != update.size_bytes:
        raise FirmwareRejected("size", f"image is {len(update.image)} bytes, the update says {update.size_bytes}")
    digest = hashlib.sha256(update.image).hexdigest()
    if digest != update.sha256:
        raise FirmwareRejected("digest", "SHA-256 of the image does not match the update (garbled image)")
    if update.device_model != model:
        raise FirmwareRejected("model", f"image is for {update.device_model!r}, this device is {model!r}")
    try:
        if pki.role(update.signer) != FIRMWARE_SIGNING_ROLE:
            raise FirmwareRejected("signature", f"{update.signer!r} is not a firmware-signing identity")
        certificate = pki.certificate(update.signer, pki.current_epoch(update.signer))
        pki.validate(certificate)
    except IdentityError as exc:
        raise FirmwareRejected("signature", f"signer not trusted: {exc}") from None
    public = certificate.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    blob = signed_blob(update.image_id, update.device_model, update.version, update.size_bytes, update.sha256)
    try:
        public.verify(bytes.fromhex(update.signature), blob, _SIGNATURE)
    except InvalidSignature:
        raise FirmwareRejected("signature", f"signature does not verify under {update.signer!r}") from None
    if version_key(update.version) <= version_key(running):
        raise FirmwareRejected("anti-rollback", f"version {update.version} is not above the running {running}")


@dataclass(frozen=True)
class Slot:
    image_id: str
    version: str
    sha256: str
    size_bytes: int


@dataclass
class FirmwareSlots:
    """A device's two firmware slots; ``running`` is the image it runs."""

    model: str
    slots: dict[str, Slot]
    active: str = "A"
    refusals: list[FirmwareRejected] = field(default_factory=list)

    @classmethod
    def factory(cls, model: str, version: str, image: bytes) -> FirmwareSlots:
        """The image the device left the factory with, in slot A."""
        slot = Slot(f"{model}-{version}", version, hashlib.sha256(image).hexdigest(), len(image))
        return cls(model, {"A": slot})

    @property
    def running(self) -> Slot:
        return self.slots[self.active]

    @property
    def inactive(self) -> str:
        return "B" if self.active == "A" else "A"

    def install(self, update: han.FirmwareUpdate, pki: Pki) -> Slot:
        """Verify, write to the inactive slot, then switch to it; a refusal leaves the running slot as it was."""
        try:
            verify(update, pki, model=self.model, running=self.running.version)
        except FirmwareRejected as exc:
            self.refusals.append(exc)
            raise
        target = self.inactive
        self.slots[target] = Slot(update.image_id, update.version, update.sha256, update.size_bytes)
        self.active = target
        return self.slots[target]
