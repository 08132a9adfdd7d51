"""Extra real Docker engines for multi-host tests and benchmarks, started and torn down by them:
`Dockerd` (its own data root, exec root, bridge and unix socket), `tls_engine` (a tcp:// socket
with TLS on loopback) and `ssh_to_local_engine` (ssh:// through a throw-away sshd).

It never touches the main engine's bridge or state, and never listens beyond 127.0.0.1."""

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


@dataclass(frozen=True)
class Engine:
    url: str
    certs: Path | None  # ca.pem, cert.pem, key.pem: the client's side, for tcp:// with TLS

    def client(self) -> docker.DockerClient:
        if self.certs is None:
            return docker.DockerClient(base_url=self.url, version="1.41")
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


class Dockerd:
    """One extra dockerd with its own data root, exec root, pid file and bridge; stoppable and
    startable again (with live_restore, its containers keep running while it is stopped)."""

    def __init__(
        self,
        root: Path,
        bridge: str,
        cidr: str,
        *,
        tls_port: int | None = None,
        live_restore: bool = False,
    ) -> None:
        self.root, self.bridge, self.cidr, self.live_restore = root, bridge, cidr, live_restore
        root.mkdir(parents=True, exist_ok=True)
        self.certs = root / "certs"
        if tls_port is not None:
            make_certs(self.certs)
            self.listen = f"tcp://127.0.0.1:{tls_port}"
        else:
            self.listen = f"unix://{root / 'docker.sock'}"
        self.tls = tls_port is not None
        self.proc: subprocess.Popen[bytes] | None = None
        subprocess.run(["ip", "link", "del", bridge], capture_output=True)
        _run("ip", "link", "add", bridge, "type", "bridge")
        _run("ip", "addr", "add", cidr, "dev", bridge)
        _run("ip", "link", "set", bridge, "up")

    @property
    def engine(self) -> Engine:
        return Engine(self.listen, self.certs if self.tls else None)

    def start(self) -> None:
        args = [
            "dockerd",
            "--data-root",
            str(self.root / "data"),
            "--exec-root",
            str(self.root / "exec"),
            "--pidfile",
            str(self.root / "dockerd.pid"),
            "-H",
            self.listen,
            f"--bridge={self.bridge}",
            "--iptables=false",
        ]
        if self.tls:
            args += [
                "--tlsverify",
                "--tlscacert",
                str(self.certs / "ca.pem"),
                "--tlscert",
                str(self.certs / "server-cert.pem"),
                "--tlskey",
                str(self.certs / "server-key.pem"),
            ]
        if self.live_restore:
            args.append("--live-restore")
        with open(self.root / "dockerd.log", "ab") as log:
            self.proc = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 60
        while True:
            try:
                self.engine.client().ping()
                return
            except Exception:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((self.root / "dockerd.log").read_text()[-2000:]) from None
                time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def destroy(self) -> None:
        """Stops it for good: its containers, its containerd, its bridge and files."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                client = self.engine.client()
                for c in client.containers.list(all=True):
                    c.remove(force=True)
            except Exception:
                pass
        self.stop()
        pid = self.root / "exec" / "containerd" / "containerd.pid"
        if pid.exists():  # live-restore leaves the managed containerd behind
            subprocess.run(["kill", pid.read_text().strip()], capture_output=True)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
        mounts = [
            line.split()[1]
            for line in Path("/proc/mounts").read_text().splitlines()
            if line.split()[1].startswith(str(self.root))
        ]
        for mount in sorted(mounts, reverse=True):  # deepest first
            subprocess.run(["umount", "-l", mount], capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)

    def load(self, image_tar: Path) -> None:
        with open(image_tar, "rb") as tar:
            self.engine.client().images.load(tar.read())


@contextmanager
def tls_engine(root: Path, port: int, image_tar: Path) -> Iterator[Engine]:
    """A dockerd on tcp://127.0.0.1:port with TLS, holding `image_tar`."""
    d = Dockerd(root, "skiffb0", "172.31.250.1/24", tls_port=port)
    try:
        d.start()
        d.load(image_tar)
        yield d.engine
    finally:
        d.destroy()


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
