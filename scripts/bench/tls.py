"""HTTPS for the benchmark: a throwaway CA, a server certificate it signed, and a CA bundle.

Users call ``https://`` URLs, and a client's first https call pays for an SSL context holding
the machine's CA certificates (about 140 on Debian, 15-20 ms to load). The SDK builds that
context only when a URL needs TLS, and keeps one per process and trust setting, so against a
plain-http server it would be credited with savings no user sees. So the cold-start and the
construction figures run against an HTTPS server, and every side gets ``SSL_CERT_FILE`` pointing
at the same realistic bundle: the system's CA certificates (httpx2's own default on Linux) with
the throwaway CA appended. httpx2, the generated client and the SDK all honour ``SSL_CERT_FILE``,
so each side loads exactly that bundle, as it would load the system's against the real API.
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

# Where httpcore2 looks when OpenSSL's compiled-in file is missing (the same list, same order).
_SYSTEM_BUNDLES = (
    "/etc/ssl/cert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/pki/tls/cert.pem",
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/ssl/ca-bundle.pem",
)


@dataclass(frozen=True)
class Tls:
    ca: Path  # the throwaway CA certificate
    cert: Path  # the server's certificate for 127.0.0.1, signed by ``ca``
    key: Path
    bundle: Path  # the system's CA bundle with ``ca`` appended: every side's SSL_CERT_FILE
    system_bundle: str  # the file ``bundle`` was made from
    bundle_certificates: int


def system_bundle() -> str:
    """The CA file httpx2 trusts by default here: OpenSSL's compiled-in one, else the first
    of the usual places."""
    compiled = ssl.get_default_verify_paths().openssl_cafile
    for path in (compiled, *_SYSTEM_BUNDLES):
        if os.path.isfile(path):
            return os.path.realpath(path)
    raise SystemExit("no system CA bundle found (apt-get install ca-certificates)")


def _openssl(*argv: str) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise SystemExit("the HTTPS figures need the openssl command: apt-get install openssl")
    proc = subprocess.run([openssl, *argv], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"openssl {argv[0]} failed:\n{proc.stderr}")


def self_signed(folder: Path) -> Tls:
    """A new CA and a certificate for 127.0.0.1 it signed, valid two days, under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    ca, ca_key = folder / "ca.pem", folder / "ca-key.pem"
    cert, key, csr = folder / "cert.pem", folder / "key.pem", folder / "cert.csr"
    ext = folder / "cert.ext"
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl(
        "req", "-x509", *ec, "-days", "2", "-subj", "/CN=tapti bench CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout", str(ca_key), "-out", str(ca),
    )  # fmt: skip
    _openssl("req", *ec, "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(csr))
    # Python 3.13 verifies strictly (VERIFY_X509_STRICT): a leaf needs these extensions.
    ext.write_text(
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n",
        encoding="ascii",
    )
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
        "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", str(cert),
    )  # fmt: skip
    source = system_bundle()
    text = Path(source).read_text(encoding="utf-8").rstrip("\n") + "\n"
    text += ca.read_text(encoding="utf-8")
    bundle = folder / "bundle.pem"
    bundle.write_text(text, encoding="utf-8")
    count = text.count("-----BEGIN CERTIFICATE-----")
    return Tls(ca, cert, key, bundle, source, count)
