"""HTTPS for the cold-start figure: a throwaway certificate, and a CA bundle that trusts it.

Users call ``https://`` URLs, and a client's first https call pays for an SSL context holding
certifi's CA certificates (16-20 ms here). The SDK builds that context only when a URL
needs TLS, so against a plain-http server it would be credited with a saving no user sees. So
figure 1 runs against an HTTPS server, and every side gets ``SSL_CERT_FILE`` pointing at certifi's
bundle plus the throwaway certificate: each loads the full bundle, exactly as against the real API
(httpx2, the generated client and the SDK all honour ``SSL_CERT_FILE``).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import certifi


@dataclass(frozen=True)
class Tls:
    cert: Path
    key: Path
    bundle: Path  # certifi's CA bundle with ``cert`` appended: the children's SSL_CERT_FILE


def self_signed(folder: Path) -> Tls:
    """A new key and a certificate for 127.0.0.1, valid two days, written under ``folder``."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise SystemExit(
            "figure 1 runs over HTTPS and needs the openssl command: apt-get install openssl"
        )
    folder.mkdir(parents=True, exist_ok=True)
    tls = Tls(folder / "cert.pem", folder / "key.pem", folder / "bundle.pem")
    command = [
        openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
        "-keyout", str(tls.key), "-out", str(tls.cert),
    ]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"openssl could not make a test certificate:\n{proc.stderr}")
    bundle = Path(certifi.where()).read_text(encoding="ascii") + tls.cert.read_text(
        encoding="ascii"
    )
    tls.bundle.write_text(bundle, encoding="ascii")
    return tls
