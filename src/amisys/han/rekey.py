"""Key replacement over the HAN (DR-15): both ends of a KeyUpdate.

The key authority (the LMS/DRMS for an ESI, the ESI as trust centre for its devices) has the
utility's PKI start a rotation (a new key epoch with its certificate), wraps the new private
key (RFC 3394 AES key wrap) under the key-encryption key it shares with the device's *current*
epoch, and seals the KeyUpdate for that epoch. The device unwraps it, checks it is the key of
the certificate issued for the new epoch and takes it. Once the device has acknowledged, the
authority ends the overlap: the old epoch is retired everywhere, so nothing sealed with or for
the old key opens any more.
"""

from __future__ import annotations

from amisys.messages import han
from amisys.security.endpoint import SecureEndpoint
from amisys.security.keys import unwrap_private_key, wrap_private_key
from amisys.security.pki import Identity, IdentityError, Pki


def issue(authority: SecureEndpoint, pki: Pki, device: str, key_id: str) -> tuple[han.KeyUpdate, int]:
    """Rotate ``device``'s key; the KeyUpdate to send and the epoch it must be sealed for (the old one)."""
    old = pki.current_epoch(device)
    new = pki.rotate(device)
    kek = authority.key_encryption_key(device, old)
    update = han.KeyUpdate(
        key_id=key_id,
        device=device,
        epoch=new.epoch,
        wrapped_key=wrap_private_key(kek, new.private_key),
        wrapping_key_id=f"{authority.address}#{authority.identity.epoch}|{device}#{old}",
        algorithm="aes256-kw",
        not_before_ns=None,
    )
    return update, old


def install(endpoint: SecureEndpoint, pki: Pki, update: han.KeyUpdate, source: str, source_epoch: int) -> Identity:
    """Take the new key a KeyUpdate carries; IdentityError if it is not for us, stale, or does not unwrap."""
    if update.device != endpoint.address:
        raise IdentityError(f"key update for {update.device} delivered to {endpoint.address}")
    if update.epoch <= endpoint.identity.epoch:
        raise IdentityError(f"key epoch {update.epoch} is not above the held {endpoint.identity.epoch}")
    certificate = pki.certificate(endpoint.address, update.epoch)
    kek = endpoint.key_encryption_key(source, source_epoch)
    key = unwrap_private_key(kek, update.wrapped_key, certificate)
    identity = Identity(endpoint.address, endpoint.role, update.epoch, key, certificate)
    endpoint.add_identity(identity)
    return identity


def finish(pki: Pki, device: str) -> None:
    """End the rotation once the device acknowledged: the old epoch stops working everywhere."""
    pki.end_overlap(device)
