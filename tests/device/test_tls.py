"""Phones reach a production server: the device library speaks HTTPS and WSS with no
platform set-up (Mozilla's roots are bundled) and trusts a private deployment's own CA
given as PEM in its config. Here the real server terminates TLS itself (its
`tls_cert_file`/`tls_key_file` settings) with a certificate this test makes, under a CA
this test makes, and the device works a ticket through the generated Python bindings."""

import datetime
import ipaddress
import ssl
import urllib.error
import urllib.request

import json
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conftest import PASSWORD, Server, World, eventually, make_keys


def make_pki(directory):
    """A CA and a server certificate for 127.0.0.1 and localhost, signed by it (PEM)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Sysops Squad test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sysops.test")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_pem = ca.public_bytes(serialization.Encoding.PEM).decode()
    paths = {"cert": directory / "server.crt", "key": directory / "server.key", "ca": directory / "ca.crt"}
    paths["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    paths["ca"].write_text(ca_pem)
    return paths, ca_pem


class TlsServer(Server):
    """The real server with its own TLS listener; the scene is set over HTTPS too."""

    def __init__(self, data_dir, pki):
        self.pki = pki
        self.tls = ssl.create_default_context(cafile=str(pki["ca"]))
        super().__init__(data_dir)

    def _env(self):
        env = super()._env()
        env["SYSOPS_TLS_CERT_FILE"] = str(self.pki["cert"])
        env["SYSOPS_TLS_KEY_FILE"] = str(self.pki["key"])
        return env

    def call(self, method, path, body=None, token=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            req.add_header("content-type", "application/json")
        if token:
            req.add_header("authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=30, context=self.tls) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")


@pytest.fixture
def tls_server(tmp_path):
    (tmp_path / "pki").mkdir()
    pki, ca_pem = make_pki(tmp_path / "pki")
    s = TlsServer(str(tmp_path / "data"), pki).start()
    yield s, ca_pem
    s.stop()


def test_the_device_works_against_the_server_over_tls_with_a_private_ca(ffi, tmp_path, tls_server):
    s, ca_pem = tls_server
    assert s.base.startswith("https://127.0.0.1:"), s.base
    # Plain HTTP to the TLS port gets nowhere: the listener speaks only TLS.
    with pytest.raises(Exception):
        urllib.request.urlopen(s.base.replace("https://", "http://") + "/health/live", timeout=10)
    assert s.call("GET", "/health/live")[0] == 200, "HTTPS with the CA works"
    w = World(s)
    t = w.ticket("TV shows no signal")
    expert = w.experts[0]
    assert t["assigned_expert_id"] == expert["id"]

    # Without the private CA the bundled roots do not vouch for this server: refused.
    stranger = ffi.SysopsDevice.open(str(tmp_path / "stranger" / "store.db"), s.base, make_keys(ffi))
    with pytest.raises(ffi.DeviceError.Offline) as refused:
        stranger.sign_in(expert["email"], PASSWORD)
    assert "certificate" in str(refused.value).lower() or "error sending request" in str(refused.value), refused.value
    stranger.close()

    # A config that is not PEM is refused with a clear reason.
    with pytest.raises(ffi.DeviceError.Invalid):
        ffi.SysopsDevice.open_with_config(str(tmp_path / "bad" / "store.db"),
                                          ffi.DeviceConfig(server_url=s.base, extra_ca_pem="not a certificate"),
                                          make_keys(ffi))

    # With the deployment's CA: sign in (HTTPS), sync (WSS), work the ticket.
    dev = ffi.SysopsDevice.open_with_config(str(tmp_path / "phone" / "store.db"),
                                            ffi.DeviceConfig(server_url=s.base, extra_ca_pem=ca_pem), make_keys(ffi))
    assert dev.sign_in(expert["email"], PASSWORD) == expert["id"]
    dev.start_sync()
    eventually(lambda: [x for x in dev.tickets() if x.id == t["id"]], "the ticket over wss")
    assert dev.wait_synced(20_000)
    dev.accept(t["id"])
    dev.complete(t["id"], "Reseated the HDMI cable.")
    assert dev.wait_synced(20_000)
    admin = s.login(*s.admin)
    done = eventually(lambda: (lambda r: r[1] if r[1]["status"] == "completed" else None)(
        s.call("GET", f"/api/v1/tickets/{t['id']}", token=admin)), "the completion on the server over TLS")
    assert done["completed_by"] == expert["id"]
    dev.close()
