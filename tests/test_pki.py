"""PKI and keys: identities, encryption at rest, rotation, revocation, commissioning, pair keys."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from amisys.security.keys import KeyRing, KeyStore
from amisys.security.pki import IdentityError, Pki, RevokedIdentity, UnknownIdentity


@pytest.fixture(scope="module")
def pki() -> Pki:
    return Pki()


def test_chain_root_issuing_identity(pki: Pki) -> None:
    ident = pki.issue("mdms", "mdms")
    cert = ident.certificate
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert cert.public_key().curve.name == "secp256r1"
    cert.verify_directly_issued_by(pki.issuing_certificate)
    pki.issuing_certificate.verify_directly_issued_by(pki.root_certificate)
    ou = cert.subject.get_attributes_for_oid(x509.oid.NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value
    assert ou == "mdms"
    assert pki.certificate("mdms", 1) == cert
    with pytest.raises(IdentityError, match="already exists"):
        pki.issue("mdms", "mdms")


def test_certificate_from_another_ca_is_refused(pki: Pki) -> None:
    other = Pki()
    stranger = other.issue("meter:forged", "meter")
    with pytest.raises(IdentityError, match=r"not issued by the utility's issuing CA|signature invalid"):
        pki.validate(stranger.certificate)


def test_commissioning_only_field_devices(pki: Pki) -> None:
    dev = pki.commission("meter:000001", "meter")
    assert dev.role == "meter"
    with pytest.raises(IdentityError, match="not a field device role"):
        pki.commission("cis:2", "cis")


def test_keys_are_encrypted_at_rest(pki: Pki, tmp_path) -> None:
    ident = pki.commission("meter:000002", "meter")
    store = KeyStore(tmp_path, b"correct horse battery staple")
    path = store.save(ident)
    text = path.read_text()
    assert "BEGIN ENCRYPTED PRIVATE KEY" in text
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    loaded = store.load("meter:000002", 1, pki)
    assert loaded.public_key.public_numbers() == ident.public_key.public_numbers()
    wrong = KeyStore(tmp_path, b"not the passphrase at all")
    with pytest.raises(IdentityError, match="cannot be opened"):
        wrong.load("meter:000002", 1, pki)
    with pytest.raises(ValueError, match="at least 12 bytes"):
        KeyStore(tmp_path, b"short")


def test_rotation_overlap_then_old_epoch_stops(pki: Pki) -> None:
    pki.issue("oms", "oms")
    new = pki.rotate("oms")
    assert new.epoch == 2 and pki.current_epoch("oms") == 2
    assert pki.certificate("oms", 1) is not None
    pki.end_overlap("oms")
    assert pki.certificate("oms", 2) == new.certificate
    with pytest.raises(RevokedIdentity, match="retired by rotation"):
        pki.certificate("oms", 1)
    assert any(r.serial_number for r in pki.crl())


def test_revocation_and_decommissioning(pki: Pki, tmp_path) -> None:
    pki.commission("meter:000003", "meter")
    pki.revoke("meter:000003")
    with pytest.raises(RevokedIdentity, match="revoked"):
        pki.certificate("meter:000003", 1)
    dev = pki.commission("meter:000004", "meter")
    store = KeyStore(tmp_path, b"correct horse battery staple")
    store.save(dev)
    pki.decommission("meter:000004")
    assert store.delete("meter:000004") == 1
    with pytest.raises(RevokedIdentity, match="decommissioned"):
        pki.current_epoch("meter:000004")
    serials = {r.serial_number for r in pki.crl()}
    assert dev.certificate.serial_number in serials
    with pytest.raises(UnknownIdentity):
        pki.certificate("meter:nope", 1)


def test_expired_certificate_refused() -> None:
    now = [dt.datetime(2030, 1, 1, tzinfo=dt.UTC)]
    pki = Pki(clock=lambda: now[0], validity=dt.timedelta(days=30))
    pki.issue("cis", "cis")
    now[0] += dt.timedelta(days=31)
    with pytest.raises(IdentityError, match="outside its validity period"):
        pki.certificate("cis", 1)


def test_pair_keys_agree_and_differ_per_pair(pki: Pki) -> None:
    a = pki.commission("meter:000010", "meter")
    b = pki.commission("meter:000011", "meter")
    hub = pki.issue("ami-headend", "ami-headend")
    ring_a, ring_b, ring_hub = KeyRing(a), KeyRing(b), KeyRing(hub)
    k_a = ring_a.pair_key("ami-headend", 1, hub.certificate, "aead")
    assert k_a == ring_hub.pair_key("meter:000010", 1, a.certificate, "aead")
    assert k_a != ring_b.pair_key("ami-headend", 1, hub.certificate, "aead")
    assert k_a != ring_a.pair_key("ami-headend", 1, hub.certificate, "mac")
    assert len(ring_a.pair_key("ami-headend", 1, hub.certificate, "mac")) == 32
