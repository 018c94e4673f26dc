"""Certificates made for a test (cryptography): a CA and what it signs (a broker for a host, a client), PEM files."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> Path:
    pkcs8 = serialization.PrivateFormat.PKCS8
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, pkcs8, serialization.NoEncryption()))
    return path


class TestCA:
    """A CA in ``folder`` (``<name>.pem``, valid for a day) that issues certificates there."""

    __test__ = False  # not a test class

    def __init__(self, folder: Path, name: str = "ca") -> None:
        self.folder = folder
        self.name = name
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.cert = self._build(_name(f"socbal test {name}"), self.key, ca=True).sign(self.key, hashes.SHA256())
        self.file = folder / f"{name}.pem"
        self.file.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def _build(self, subject: x509.Name, key: ec.EllipticCurvePrivateKey, ca: bool) -> x509.CertificateBuilder:
        now = datetime.datetime.now(datetime.timezone.utc)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(_name(f"socbal test {self.name}"))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )

    def issue(self, stem: str, host: str | None = None) -> tuple[Path, Path]:
        """A certificate signed by this CA and its key: (``<stem>.pem``, ``<stem>.key``). ``host``: the DNS name or IP
        address it is for (a broker's); None: a client's."""
        key = ec.generate_private_key(ec.SECP256R1())
        builder = self._build(_name(host or stem), key, ca=False)
        if host is not None:
            try:
                alt: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
            except ValueError:
                alt = x509.DNSName(host)
            builder = builder.add_extension(x509.SubjectAlternativeName([alt]), critical=False)
        cert_file = self.folder / f"{stem}.pem"
        cert_file.write_bytes(builder.sign(self.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
        return cert_file, _write_key(key, self.folder / f"{stem}.key")
