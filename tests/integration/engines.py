"""A second, real Docker engine for multi-host tests: its own data root, exec root, bridge and
a TLS-protected tcp:// socket on loopback, started and torn down by the tests themselves."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.tls

BRIDGE = "skiffb0"
BRIDGE_CIDR = "172.31.250.1/24"


@dataclass(frozen=True)
class Engine:
    url: str
    certs: Path  # ca.pem, cert.pem, key.pem: the client's side

    def client(self) -> docker.DockerClient:
        tls = docker.tls.TLSConfig(
            client_cert=(str(self.certs / "cert.pem"), str(self.certs / "key.pem")),
            ca_cert=str(self.certs / "ca.pem"),
            verify=True,
        )
        client = docker.DockerClient(base_url=self.url, tls=tls, version="1.41")
        client.api.trust_env = False  # REQUESTS_CA_BUNDLE must not replace our CA
        return client


def _run(*cmd: str, cwd: Path | None = None) -> None:
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)


def make_certs(d: Path) -> None:
    """A throw-away CA, a server certificate for 127.0.0.1 and a client certificate."""
    d.mkdir(parents=True, exist_ok=True)
    _run(
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-keyout",
        "ca-key.pem",
        "-out",
        "ca.pem",
        "-subj",
        "/CN=skiff-test-ca",
        cwd=d,
    )
    for who, usage, extra in (
        ("server", "serverAuth", "subjectAltName=IP:127.0.0.1\n"),
        ("client", "clientAuth", ""),
    ):
        (d / f"{who}.ext").write_text(f"{extra}extendedKeyUsage={usage}\n")
        _run(
            "openssl",
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            f"{who}-key.pem",
            "-out",
            f"{who}.csr",
            "-subj",
            f"/CN={who}",
            cwd=d,
        )
        _run(
            "openssl",
            "x509",
            "-req",
            "-in",
            f"{who}.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca-key.pem",
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            f"{who}-cert.pem",
            "-extfile",
            f"{who}.ext",
            cwd=d,
        )
    shutil.copy(d / "client-cert.pem", d / "cert.pem")
    shutil.copy(d / "client-key.pem", d / "key.pem")


@contextmanager
def tls_engine(root: Path, port: int, image_tar: Path) -> Iterator[Engine]:
    """Starts dockerd on tcp://127.0.0.1:port with TLS; loads `image_tar` into it."""
    certs = root / "certs"
    make_certs(certs)
    subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True)
    _run("ip", "link", "add", BRIDGE, "type", "bridge")
    _run("ip", "addr", "add", BRIDGE_CIDR, "dev", BRIDGE)
    _run("ip", "link", "set", BRIDGE, "up")
    log = open(root / "dockerd.log", "wb")  # noqa: SIM115 (open while dockerd runs)
    proc = subprocess.Popen(
        [
            "dockerd",
            "--data-root",
            str(root / "data"),
            "--exec-root",
            str(root / "exec"),
            "--pidfile",
            str(root / "dockerd.pid"),
            "-H",
            f"tcp://127.0.0.1:{port}",
            "--tlsverify",
            "--tlscacert",
            str(certs / "ca.pem"),
            "--tlscert",
            str(certs / "server-cert.pem"),
            "--tlskey",
            str(certs / "server-key.pem"),
            f"--bridge={BRIDGE}",
            "--iptables=false",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    engine = Engine(f"tcp://127.0.0.1:{port}", certs)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                engine.client().ping()
                break
            except Exception:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((root / "dockerd.log").read_text()[-2000:]) from None
                time.sleep(0.2)
        with open(image_tar, "rb") as tar:
            engine.client().images.load(tar.read())
        yield engine
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True)
        subprocess.run(["umount", "-R", str(root / "exec")], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@dataclass(frozen=True)
class SshAccess:
    url: str  # ssh://root@127.0.0.1:PORT, reaching this machine's own engine
    path: str  # PATH for a process that should use it: an `ssh` that reads our config first


@contextmanager
def ssh_to_local_engine(root: Path, port: int) -> Iterator[SshAccess]:
    """An sshd on loopback with a throw-away key, so ssh:// reaches the local dockerd.

    OpenSSH reads its config from the passwd home, not $HOME, so clients get a wrapper `ssh`
    on PATH that passes our config: nothing of the machine's own ssh set-up is touched.
    """
    home = root / "home"
    (home / ".ssh").mkdir(parents=True)
    key = home / ".ssh" / "id_ed25519"
    _run("ssh-keygen", "-q", "-t", "ed25519", "-f", str(root / "hostkey"), "-N", "")
    _run("ssh-keygen", "-q", "-t", "ed25519", "-f", str(key), "-N", "")
    shutil.copy(f"{key}.pub", root / "authorized_keys")
    (root / "sshd_config").write_text(
        f"ListenAddress 127.0.0.1\nPort {port}\nHostKey {root / 'hostkey'}\n"
        f"AuthorizedKeysFile {root / 'authorized_keys'}\nPermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
        f"StrictModes no\nPidFile {root / 'sshd.pid'}\n"
    )
    config = home / ".ssh" / "config"
    config.write_text(
        f"Host *\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n"
        f"  IdentityFile {key}\n  LogLevel ERROR\n"
    )
    bin_dir = root / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "ssh"
    wrapper.write_text(f'#!/bin/sh\nexec /usr/bin/ssh -F {config} "$@"\n')
    wrapper.chmod(0o755)
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege-separation directory
    proc = subprocess.Popen(
        ["/usr/sbin/sshd", "-D", "-f", str(root / "sshd_config"), "-E", str(root / "sshd.log")],
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 20
        while (
            subprocess.run(
                [str(wrapper), "-p", str(port), "root@127.0.0.1", "true"], capture_output=True
            ).returncode
            != 0
        ):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((root / "sshd.log").read_text()[-2000:])
            time.sleep(0.2)
        yield SshAccess(f"ssh://root@127.0.0.1:{port}", f"{bin_dir}:{os.environ['PATH']}")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
