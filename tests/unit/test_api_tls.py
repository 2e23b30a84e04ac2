"""The endpoint's TLS certificate is reloaded when its files change (cert-manager renewals):
real TLS handshakes against the endpoint's SSLContext before and after the files are replaced,
and a pair that does not load keeps the current certificate."""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import subprocess
import threading
from pathlib import Path

import pytest
from ecs_operator.api.server import ReloadingCertificate, ssl_context


def make_cert(directory: Path, name: str) -> tuple[Path, Path]:
    """A self-signed ECDSA certificate with CN ``name`` (the openssl CLI)."""
    crt, key = directory / f"{name}.crt", directory / f"{name}.key"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"),
            *("-days", "1", "-subj", f"/CN={name}", "-keyout", str(key), "-out", str(crt)),
        ],
        check=True,
        capture_output=True,
    )
    return crt, key


def served_name(server: ssl.SSLContext) -> str:
    """The CN of the certificate a TLS handshake with ``server`` presents."""
    a, b = socket.socketpair()
    errors: list[BaseException] = []

    def accept() -> None:
        try:
            with server.wrap_socket(b, server_side=True) as s:
                s.recv(1)
        except (OSError, ssl.SSLError) as e:  # the client closes after the handshake
            errors.append(e)

    thread = threading.Thread(target=accept)
    thread.start()
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.check_hostname = False
    client.verify_mode = ssl.CERT_NONE
    with client.wrap_socket(a, server_hostname="ecs-api") as c:
        der = c.getpeercert(binary_form=True)
        c.sendall(b"x")
    thread.join(5)
    pem = ssl.DER_cert_to_PEM_cert(der)
    out = subprocess.run(
        ["openssl", "x509", "-noout", "-subject"], input=pem, text=True, capture_output=True, check=True
    )
    return out.stdout.strip().rsplit("=", 1)[1].strip()


@pytest.fixture
def files(tmp_path):
    """The mounted tls.crt/tls.key (first certificate "one"), and a second certificate "two"."""
    one, two = make_cert(tmp_path, "one"), make_cert(tmp_path, "two")
    live = tmp_path / "tls.crt", tmp_path / "tls.key"
    for src, dst in zip(one, live, strict=True):
        dst.write_bytes(src.read_bytes())
    return live, one, two


def replace(live: tuple[Path, Path], pair: tuple[Path, Path]) -> None:
    for src, dst in zip(pair, live, strict=True):
        tmp = dst.with_suffix(".new")
        tmp.write_bytes(src.read_bytes())
        os.replace(tmp, dst)  # as the kubelet swaps a Secret volume's files: a new inode


def test_a_renewed_certificate_is_served_to_new_connections(files):
    live, _, two = files
    tls = ReloadingCertificate(str(live[0]), str(live[1]))
    assert served_name(tls.context) == "one"
    assert tls.reload_if_changed() is False  # nothing changed: nothing read
    replace(live, two)
    assert tls.reload_if_changed() is True
    assert served_name(tls.context) == "two"
    assert tls.reload_if_changed() is False


def test_a_pair_that_does_not_load_keeps_the_current_certificate(files):
    live, one, two = files
    tls = ReloadingCertificate(str(live[0]), str(live[1]))
    replace(live, (two[0], one[1]))  # a key that does not match the certificate
    assert tls.reload_if_changed() is False
    assert served_name(tls.context) == "one"
    replace(live, two)  # the rest of the rotation arrives: loaded on the next check
    assert tls.reload_if_changed() is True
    assert served_name(tls.context) == "two"


def test_the_watch_checks_every_interval_while_serving(files):
    live, _, two = files
    tls = ReloadingCertificate(str(live[0]), str(live[1]), interval=0.01)

    async def run() -> str:
        watch = tls.watch(None)  # type: ignore[arg-type]
        await watch.__anext__()
        replace(live, two)
        for _ in range(200):
            await asyncio.sleep(0.01)
            if tls._seen[0][0] == os.stat(live[0]).st_ino:
                break
        await watch.aclose()
        return served_name(tls.context)

    assert asyncio.run(run()) == "two"


@pytest.mark.parametrize("cert,key", [("a.crt", None), (None, "a.key")])
def test_cert_and_key_go_together(cert, key):
    with pytest.raises(ValueError, match="go together"):
        ssl_context(cert, key)
    assert ssl_context(None, None) is None
