"""Keys: private keys encrypted at rest, and per-pair symmetric keys derived on demand.

Per-pair keys come from ECDH between the two identities' P-256 keys through HKDF, bound
to both names and key epochs. So every pair of devices has its own keys without a key
server, one device's compromise exposes only pairs that include it, and a rotation
(new epoch) yields new pair keys by itself.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from amisys.security.pki import Identity, IdentityError, Pki

KEY_BYTES = {"aead": 16, "mac": 32, "kek": 32}  # AES-128-GCM as DLMS/COSEM suite 0; HMAC-SHA256; AES-256 key wrap
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


class KeyStore:
    """Private keys as encrypted PKCS#8 files, one per name and epoch."""

    def __init__(self, directory: Path, passphrase: bytes) -> None:
        if len(passphrase) < 12:
            raise ValueError("key store passphrase must be at least 12 bytes")
        self.directory = directory
        self._passphrase = passphrase
        directory.mkdir(parents=True, exist_ok=True)

    def _path(self, name: str, epoch: int) -> Path:
        return self.directory / f"{_SAFE.sub('_', name)}.{epoch}.key.pem"

    def save(self, identity: Identity) -> Path:
        pem = identity.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(self._passphrase),
        )
        path = self._path(identity.name, identity.epoch)
        path.write_bytes(pem)
        path.chmod(0o600)
        return path

    def load(self, name: str, epoch: int, pki: Pki) -> Identity:
        """The identity of a name's epoch, its certificate taken from the directory."""
        path = self._path(name, epoch)
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=self._passphrase)
        except FileNotFoundError:
            raise IdentityError(f"no stored key for {name!r} epoch {epoch}") from None
        except ValueError as exc:
            raise IdentityError(f"stored key for {name!r} cannot be opened: {exc}") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise IdentityError(f"stored key for {name!r} is not an EC key")
        cert = pki.certificate(name, epoch)
        if cert.public_key().public_numbers() != key.public_key().public_numbers():
            raise IdentityError(f"stored key for {name!r} epoch {epoch} does not match its certificate")
        return Identity(name=name, role=pki.role(name), epoch=epoch, private_key=key, certificate=cert)

    def delete(self, name: str) -> int:
        """Remove every stored epoch of a name (decommissioning); returns how many."""
        removed = 0
        for path in self.directory.glob(f"{_SAFE.sub('_', name)}.*.key.pem"):
            path.unlink()
            removed += 1
        return removed


class KeyRing:
    """An identity's derived pair keys, cached by peer, epochs and purpose."""

    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        self._cache: dict[tuple[str, int, int, str], bytes] = {}
        self._lock = threading.Lock()

    def cached(self, peer: str, peer_epoch: int, purpose: str) -> bytes | None:
        return self._cache.get((peer, self.identity.epoch, peer_epoch, purpose))

    def pair_key(self, peer: str, peer_epoch: int, peer_cert: x509.Certificate, purpose: str) -> bytes:
        """The key this identity shares with ``peer`` for ``purpose`` ("aead" or "mac")."""
        length = KEY_BYTES[purpose]
        me = self.identity
        cache_key = (peer, me.epoch, peer_epoch, purpose)
        key = self._cache.get(cache_key)
        if key is not None:
            return key
        public = peer_cert.public_key()
        if not isinstance(public, ec.EllipticCurvePublicKey):
            raise IdentityError(f"certificate of {peer!r} has no EC key")
        shared = me.private_key.exchange(ec.ECDH(), public)
        ends = sorted([f"{me.name}#{me.epoch}", f"{peer}#{peer_epoch}"])
        info = f"amisys/1|{purpose}|{ends[0]}|{ends[1]}".encode()
        key = HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(shared)
        with self._lock:
            self._cache[cache_key] = key
        return key

    def forget(self, peer: str) -> None:
        """Drop cached keys of a peer (revoked, rotated out or decommissioned)."""
        with self._lock:
            for k in [k for k in self._cache if k[0] == peer]:
                del self._cache[k]


def wrap_private_key(kek: bytes, key: ec.EllipticCurvePrivateKey) -> bytes:
    """A P-256 private key wrapped (RFC 3394 AES key wrap) under a pair's key-encryption key.

    Used to hand a device its new key (KeyUpdate, DR-15) over a channel only it can open.
    """
    return aes_key_wrap(kek, key.private_numbers().private_value.to_bytes(32, "big"))


def unwrap_private_key(kek: bytes, wrapped: bytes, expected: x509.Certificate) -> ec.EllipticCurvePrivateKey:
    """Unwrap a P-256 private key and check it is the key of ``expected`` (its new certificate)."""
    try:
        raw = aes_key_unwrap(kek, wrapped)
    except (InvalidUnwrap, ValueError) as exc:
        raise IdentityError(f"wrapped key does not open under the key-encryption key: {exc}") from None
    if len(raw) != 32:
        raise IdentityError(f"wrapped key is {len(raw)} bytes, not a P-256 private key")
    try:
        key = ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
    except ValueError as exc:
        raise IdentityError(f"wrapped key is not a valid P-256 private key: {exc}") from None
    if key.public_key().public_numbers() != expected.public_key().public_numbers():  # type: ignore[union-attr]
        raise IdentityError("unwrapped key does not match the certificate issued for it")
    return key
