"""The envelope every message travels in, and the cryptographic sealing of it.

An IEC 61968-100 style header (verb, noun, ids, timestamp, source, destination, process,
flow) is protected end to end from the originator to the final recipient: AES-GCM with
the header as associated data when confidentiality is Medium or High, HMAC-SHA256
otherwise, and an ECDSA P-256 signature of the originator when integrity is High. A relay
(e.g. the AMI Headend) cannot read or alter that part; it appends a *hop seal*, MACed
under the key it shares with the next receiver, that names the leg it forwards on.

This module only encodes, seals and checks; which protection a message needs, and who
may send it, is decided from the catalog by :mod:`amisys.security.endpoint`.
"""

from __future__ import annotations

import hashlib
import os

import msgspec
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MODE_MAC = 1
MODE_AEAD = 2
NONCE_BYTES = 12
MAX_ENVELOPE_BYTES = 8 * 1024 * 1024
_SIGNATURE_ALG = ec.ECDSA(hashes.SHA256())


class EnvelopeError(ValueError):
    """An envelope that cannot be opened: malformed, tampered, or wrongly protected."""


class Header(msgspec.Struct, array_like=True, frozen=True, forbid_unknown_fields=True):
    verb: str
    noun: str
    message_id: str
    correlation_id: str | None
    timestamp_ns: int
    source: str
    source_epoch: int
    destination: str
    destination_epoch: int
    process: str
    flow: str
    direction: str
    interface: str
    lane: int
    counter: int
    authority: str | None = None
    operator: str | None = None
    reply_to: str | None = None
    """IEC 61968-100 ReplyAddress: the final recipient of the answer, when a relay asks on its behalf."""
    reply_via: str | None = None
    """The flow the relay will forward that answer on (so its originator can protect it for the whole path)."""


class HopSeal(msgspec.Struct, array_like=True, frozen=True, forbid_unknown_fields=True):
    """One relayed leg: who forwarded to whom, on which interface, as which seed flow."""

    sender: str
    sender_epoch: int
    receiver: str
    receiver_epoch: int
    interface: str
    flow: str
    direction: str
    lane: int
    counter: int
    timestamp_ns: int
    mac: bytes = b""


class Sealed(msgspec.Struct, array_like=True, forbid_unknown_fields=True):
    header: bytes
    mode: int
    nonce: bytes
    body: bytes
    tag: bytes
    signature: bytes
    hops: list[HopSeal]


_HEADER_DECODER = msgspec.msgpack.Decoder(Header)
_SEALED_DECODER = msgspec.msgpack.Decoder(Sealed)
_ENCODER = msgspec.msgpack.Encoder()


def encode_header(header: Header) -> bytes:
    return _ENCODER.encode(header)


def _mac(key: bytes, *parts: bytes) -> bytes:
    h = hmac.HMAC(key, hashes.SHA256())
    for part in parts:
        h.update(part)
    return h.finalize()


def _check_mac(key: bytes, tag: bytes, *parts: bytes) -> None:
    h = hmac.HMAC(key, hashes.SHA256())
    for part in parts:
        h.update(part)
    try:
        h.verify(tag)
    except InvalidSignature:
        raise EnvelopeError("message authentication failed: MAC does not match") from None


def _signed_blob(sealed: Sealed) -> bytes:
    return _ENCODER.encode((sealed.header, sealed.mode, sealed.nonce, sealed.body, sealed.tag))


def seal(
    header: Header,
    payload: bytes,
    *,
    aead: AESGCM | None = None,
    mac_key: bytes | None = None,
    signer: ec.EllipticCurvePrivateKey | None = None,
) -> Sealed:
    """Protect a payload end to end: AEAD when ``aead`` is given, else MAC; sign if ``signer``."""
    header_bytes = encode_header(header)
    if aead is not None:
        nonce = os.urandom(NONCE_BYTES)
        sealed = Sealed(header_bytes, MODE_AEAD, nonce, aead.encrypt(nonce, payload, header_bytes), b"", b"", [])
    elif mac_key is not None:
        sealed = Sealed(header_bytes, MODE_MAC, b"", payload, _mac(mac_key, header_bytes, payload), b"", [])
    else:
        raise ValueError("an envelope needs an AEAD cipher or a MAC key")
    if signer is not None:
        sealed.signature = signer.sign(_signed_blob(sealed), _SIGNATURE_ALG)
    return sealed


def to_bytes(sealed: Sealed) -> bytes:
    return _ENCODER.encode(sealed)


def decode(data: bytes) -> tuple[Sealed, Header]:
    """Parse without trusting anything yet; any malformation is an EnvelopeError."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise EnvelopeError(f"envelope must be bytes, got {type(data).__name__}")
    if len(data) > MAX_ENVELOPE_BYTES:
        raise EnvelopeError(f"envelope of {len(data)} bytes exceeds the {MAX_ENVELOPE_BYTES}-byte limit")
    try:
        sealed = _SEALED_DECODER.decode(data)
        header = _HEADER_DECODER.decode(sealed.header)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise EnvelopeError(f"malformed envelope: {exc}") from None
    if sealed.mode not in (MODE_MAC, MODE_AEAD):
        raise EnvelopeError(f"unknown protection mode {sealed.mode}")
    if header.direction not in ("request", "reply"):
        raise EnvelopeError(f"unknown direction {header.direction!r}")
    return sealed, header


def open_payload(sealed: Sealed, *, aead: AESGCM | None = None, mac_key: bytes | None = None) -> bytes:
    """Check the end-to-end protection and return the payload bytes."""
    if sealed.mode == MODE_AEAD:
        if aead is None:
            raise EnvelopeError("envelope is encrypted but no key is shared with its source")
        if len(sealed.nonce) != NONCE_BYTES:
            raise EnvelopeError(f"nonce must be {NONCE_BYTES} bytes")
        try:
            return aead.decrypt(sealed.nonce, sealed.body, sealed.header)
        except InvalidTag:
            raise EnvelopeError("authenticated decryption failed: ciphertext, tag or header altered") from None
    if mac_key is None:
        raise EnvelopeError("envelope is MAC-protected but no key is shared with its source")
    _check_mac(mac_key, sealed.tag, sealed.header, sealed.body)
    return sealed.body


def verify_signature(sealed: Sealed, public_key: ec.EllipticCurvePublicKey) -> None:
    if not sealed.signature:
        raise EnvelopeError("originator signature missing")
    try:
        public_key.verify(sealed.signature, _signed_blob(sealed), _SIGNATURE_ALG)
    except InvalidSignature:
        raise EnvelopeError("originator signature invalid") from None


def _digest(sealed: Sealed) -> bytes:
    return hashlib.sha256(_signed_blob(sealed) + sealed.signature).digest()


def _hop_bytes(hop: HopSeal) -> bytes:
    return _ENCODER.encode(
        (
            hop.sender,
            hop.sender_epoch,
            hop.receiver,
            hop.receiver_epoch,
            hop.interface,
            hop.flow,
            hop.direction,
            hop.lane,
            hop.counter,
            hop.timestamp_ns,
        )
    )


def add_hop(sealed: Sealed, hop: HopSeal, key: bytes) -> None:
    """Append a hop seal bound to the whole envelope and to the hops before it."""
    prior = _ENCODER.encode([_hop_bytes(h) for h in sealed.hops])
    mac = _mac(key, _hop_bytes(hop), prior, _digest(sealed))
    sealed.hops.append(msgspec.structs.replace(hop, mac=mac))


def check_last_hop(sealed: Sealed, key: bytes) -> HopSeal:
    """Verify the hop seal addressed to this receiver (the last one)."""
    if not sealed.hops:
        raise EnvelopeError("no hop seal to verify")
    hop = sealed.hops[-1]
    prior = _ENCODER.encode([_hop_bytes(h) for h in sealed.hops[:-1]])
    _check_mac(key, hop.mac, _hop_bytes(hop), prior, _digest(sealed))
    return hop
