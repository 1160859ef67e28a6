"""Typed payloads of every message kind (noun) of the catalog, and their strict MessagePack codec.

A sealed envelope's payload is decoded into the struct of the noun the envelope claims, so an actor
never handles a payload of the wrong kind, an unknown field or an out-of-range value: all of these
raise `PayloadError` at the boundary. Each payload carries its noun in the `noun` field (msgspec tag).
"""

from types import ModuleType

import msgspec

from amisys.messages import cim, espi, han
from amisys.messages.cim import Payload

__all__ = ["PAYLOADS", "Payload", "PayloadError", "decode", "encode", "noun_of"]


class PayloadError(ValueError):
    """A payload that does not decode as, or does not validate against, the struct of its noun."""

    def __init__(self, noun: str, reason: str) -> None:
        super().__init__(f"{noun} payload invalid: {reason}")
        self.noun = noun
        self.reason = reason


def _collect(*modules: ModuleType) -> dict[str, type[Payload]]:
    found: dict[str, type[Payload]] = {}
    for module in modules:
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, Payload) and obj.__module__ == module.__name__:
                if obj is Payload:
                    continue
                tag = obj.__struct_config__.tag
                if not isinstance(tag, str) or tag != obj.__name__ or tag in found:
                    raise RuntimeError(f"payload {obj.__qualname__} needs a unique tag equal to its name, has {tag!r}")
                found[tag] = obj
    return found


PAYLOADS: dict[str, type[msgspec.Struct]] = dict(_collect(cim, han, espi))
"""Noun id -> payload struct, for every noun of messages.yaml."""


class _Untagged(msgspec.Struct, frozen=True, tag="", tag_field="noun"):
    """Union partner that makes the `noun` tag mandatory: a lone tagged struct would accept a map without it.

    Unknown fields are allowed here so that an empty tag is reported as such, whatever else the map holds.
    """


_ENCODER = msgspec.msgpack.Encoder()
_DECODERS = {noun: msgspec.msgpack.Decoder(cls | _Untagged) for noun, cls in PAYLOADS.items()}


def noun_of(payload: msgspec.Struct) -> str:
    """The noun of a payload struct; PayloadError if it is not one of PAYLOADS."""
    config = getattr(type(payload), "__struct_config__", None)
    noun = config.tag if config is not None else None
    if not isinstance(noun, str) or PAYLOADS.get(noun) is not type(payload):
        raise PayloadError(type(payload).__name__, "not a registered payload type")
    return noun


def decode(noun: str, data: bytes | bytearray | memoryview) -> msgspec.Struct:
    """Decode and validate MessagePack `data` as a payload of `noun`; anything else raises PayloadError."""
    decoder = _DECODERS.get(noun)
    if decoder is None:
        raise PayloadError(noun, "unknown noun")
    try:
        payload = decoder.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:  # msgspec raises the latter for bad UTF-8 in a tag
        raise PayloadError(noun, str(exc)) from exc
    if isinstance(payload, _Untagged):
        raise PayloadError(noun, "Invalid value '' - at `$.noun`")
    return payload


def encode(payload: msgspec.Struct) -> bytes:
    """Encode a payload to MessagePack, checked as its receiver will check it so a bad payload fails here."""
    noun = noun_of(payload)
    try:
        data = _ENCODER.encode(payload)
    except (TypeError, ValueError, OverflowError) as exc:
        raise PayloadError(noun, str(exc)) from exc
    decode(noun, data)
    return data
