"""The local signing identity: made once even by processes starting together, checked on every use."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from headshot.errors import OutputError
from headshot.io.images import write_image
from headshot.provenance.credentials import (CA_KEY_FILE, CHAIN_FILE, KEY_FILE, CredentialsError, check_signable,
                                             ensure_signing_identity, read_manifest, sign_file)

SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)

# Each process waits for a common start time per folder, then asks for the identity: many processes
# race on each fresh folder, the way several `headshot animate` started by one script do.
_RACER = """
import sys, time
from pathlib import Path
from headshot.provenance.credentials import ensure_signing_identity
import cryptography.x509  # imported before the start times so that the processes really collide
first, gap = float(sys.argv[1]), float(sys.argv[2])
for index, folder in enumerate(sys.argv[3:]):
    while time.time() < first + index * gap:
        time.sleep(0.0005)
    chain, key = ensure_signing_identity(Path(folder))
    print(folder, key.splitlines()[1].decode())
"""


def key_matches_certificate(folder: Path) -> bool:
    key = serialization.load_pem_private_key((folder / KEY_FILE).read_bytes(), password=None)
    certificate = x509.load_pem_x509_certificates((folder / CHAIN_FILE).read_bytes())[0]
    return key.public_key().public_bytes(*SPKI) == certificate.public_key().public_bytes(*SPKI)


def test_processes_starting_together_make_one_matching_identity(tmp_path):
    folders = [tmp_path / f"keys{i}" / "headshot" for i in range(8)]
    first = time.time() + 3.0  # after every process has started and imported
    processes = [subprocess.Popen([sys.executable, "-c", _RACER, str(first), "0.15", *map(str, folders)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outputs = [process.communicate(timeout=120) for process in processes]
    assert [p.returncode for p in processes] == [0] * 4, [err for _, err in outputs]
    seen: dict[str, set[str]] = {}
    for out, _ in outputs:
        for line in out.splitlines():
            folder, key_line = line.split()
            seen.setdefault(folder, set()).add(key_line)
    for folder in folders:
        assert len(seen[str(folder)]) == 1  # every process got the same key
        assert key_matches_certificate(folder)
        assert not (folder / CA_KEY_FILE).exists()  # the CA's private key is never kept
        assert (folder / KEY_FILE).stat().st_mode & 0o077 == 0


def _other_identity(tmp_path: Path) -> tuple[bytes, bytes]:
    chain, key = ensure_signing_identity(tmp_path / "other")
    return chain, key


@pytest.mark.parametrize("damage, problem", [
    ("truncated key", "signer.key is not a readable"),
    ("key of another identity", "does not match"),
    ("empty chain", "signer-chain.pem is not a readable"),
    ("missing key", "signer.key is missing"),
    ("missing chain", "signer-chain.pem is missing"),
])
def test_a_broken_key_folder_is_a_clear_error(tmp_path, damage, problem):
    folder = tmp_path / "keys"
    chain, key = ensure_signing_identity(folder)
    if damage == "truncated key":
        (folder / KEY_FILE).write_bytes(key[: len(key) // 2])
    elif damage == "key of another identity":
        (folder / KEY_FILE).write_bytes(_other_identity(tmp_path)[1])
    elif damage == "empty chain":
        (folder / CHAIN_FILE).write_bytes(b"")
    elif damage == "missing key":
        (folder / KEY_FILE).unlink()
    else:
        (folder / CHAIN_FILE).unlink()
    with pytest.raises(CredentialsError) as caught:
        ensure_signing_identity(folder)
    message = str(caught.value)
    assert "\n" not in message and problem in message
    assert str(folder) in message and "delete signer.key and signer-chain.pem" in message
    # following the advice fixes it
    for name in (KEY_FILE, CHAIN_FILE):
        (folder / name).unlink(missing_ok=True)
    ensure_signing_identity(folder)
    assert key_matches_certificate(folder)


def test_signing_with_a_broken_folder_leaves_the_file_unchanged(tmp_path, astronaut):
    folder = tmp_path / "keys"
    ensure_signing_identity(folder)
    (folder / KEY_FILE).write_bytes(_other_identity(tmp_path)[1])
    image = tmp_path / "out.png"
    write_image(image, astronaut)
    before = image.read_bytes()
    with pytest.raises(CredentialsError, match="does not match"):
        sign_file(image, settings={}, watermarked=True, key_dir=folder)
    assert image.read_bytes() == before and read_manifest(image) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keys", "other", "out.png"]


def test_an_old_folder_with_the_ca_key_still_works_and_loses_that_key(tmp_path, astronaut):
    from cryptography.hazmat.primitives.asymmetric import ec

    folder = tmp_path / "keys"
    folder.mkdir()
    # what older versions left: the signer key, its chain, and the CA's private key beside them
    (chain, ca_key), key = _old_style_identity()
    (folder / CHAIN_FILE).write_bytes(chain)
    (folder / KEY_FILE).write_bytes(key)
    (folder / CA_KEY_FILE).write_bytes(ca_key)
    image = tmp_path / "out.jpg"
    write_image(image, astronaut)
    sign_file(image, settings={"engine": "warp"}, watermarked=True, key_dir=folder)
    assert read_manifest(image).valid
    assert not (folder / CA_KEY_FILE).exists()
    # a ca.key that is not the chain's CA is not ours to delete
    foreign = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (folder / CA_KEY_FILE).write_bytes(foreign)
    ensure_signing_identity(folder)
    assert (folder / CA_KEY_FILE).read_bytes() == foreign


def _old_style_identity() -> tuple[tuple[bytes, bytes], bytes]:
    """((chain PEM, CA key PEM), signer key PEM) as the previous version wrote them."""
    import datetime

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(days=1), now + datetime.timedelta(days=30)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "headshot local CA")])
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "headshot local signer")])

    def usage(signing: bool) -> x509.KeyUsage:
        return x509.KeyUsage(digital_signature=signing, content_commitment=False, key_encipherment=False,
                             data_encipherment=False, key_agreement=False, key_cert_sign=not signing,
                             crl_sign=not signing, encipher_only=False, decipher_only=False)

    ca_cert = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .add_extension(usage(False), critical=True)
               .sign(ca_key, hashes.SHA256()))
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage(True), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem, plain = serialization.Encoding.PEM, (serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    chain = cert.public_bytes(pem) + ca_cert.public_bytes(pem)
    return (chain, ca_key.private_bytes(pem, *plain)), key.private_bytes(pem, *plain)


def test_signable_containers(tmp_path, astronaut):
    for name in ("out.mkv", "out.bmp", "out"):
        with pytest.raises(OutputError, match=r"cannot attach content credentials .*\.mp4.*--no-credentials"):
            check_signable(tmp_path / name)
    # TIFF is written by headshot and c2pa signs it: accepted, and the manifest validates
    image = tmp_path / "out.tif"
    check_signable(image)
    write_image(image, astronaut)
    sign_file(image, settings={}, watermarked=True, key_dir=tmp_path / "keys", title="final.tif")
    report = read_manifest(image)
    assert report is not None and report.valid and report.by_headshot
