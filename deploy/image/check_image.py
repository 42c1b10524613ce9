"""Build the image with podman on a Debian base made from Debian packages, and use it as a self-hoster would.

Run by `nox -s image` (as root, with podman, runc and debootstrap from Debian). Registry images cannot be pulled
on the project's machines, hence the base: `debootstrap` (Debian's packages only) + `podman import`, passed as
the Dockerfile's BASE_IMAGE. Then: the server runs with a volume, a phone registers and a message is sent, the
container is removed and a new one on the same volume still has the message, and every console script answers
--help inside the image.
"""

from __future__ import annotations

import base64
import json
import resource
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "build" / "image"
BASE = "localhost/smsgate-base:bookworm"
IMAGE = "localhost/smsgate-reference:check"
VOLUME = "smsgate-check-data"
CONTAINER = "smsgate-check"
SCRIPTS = ("smsgate-server", "smsgate-ca", "smsgate-sim", "smsgate-conformance")
DEBIAN_PACKAGES = "python3,python3-venv,ca-certificates"
# The host's CA bundle, handed to pip in the build: PyPI may be reached through a TLS-inspecting proxy here.
HOST_CA = "/etc/ssl/certs/ca-certificates.crt"


def podman(*args: str, check: bool = True, capture: bool = False) -> subprocess.CompletedProcess[str]:
    # runc rather than crun where it is installed: crun refuses hybrid cgroup v1/v2 hosts (like these sandboxes).
    runtime = ["--runtime", "runc"] if shutil.which("runc") else []
    return subprocess.run(["podman", *runtime, *args], check=check, text=True,
                          capture_output=capture)


def run_flags() -> list[str]:
    # Without CAP_SYS_RESOURCE a container cannot be given limits above the caller's own: ask for what we have.
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return ["--ulimit", f"nofile={nofile}:{nofile}", "--ulimit", "nproc=4096:4096"]


def step(message: str) -> None:
    print(f"--- {message}", flush=True)


def build_base() -> None:
    if podman("image", "exists", BASE, check=False).returncode == 0:
        step(f"base image {BASE} already built")
        return
    rootfs = WORK / "rootfs"
    shutil.rmtree(rootfs, ignore_errors=True)
    rootfs.parent.mkdir(parents=True, exist_ok=True)
    step(f"debootstrap bookworm ({DEBIAN_PACKAGES})")
    subprocess.run(["debootstrap", "--variant=minbase", f"--include={DEBIAN_PACKAGES}", "bookworm", str(rootfs),
                    "http://deb.debian.org/debian"], check=True, stdout=subprocess.DEVNULL)
    for item in [*(rootfs / "var/cache/apt/archives").glob("*.deb"), *(rootfs / "var/lib/apt/lists").glob("*_*")]:
        item.unlink()  # package files and indexes: 90 MB the image does not need
    tarball = WORK / "rootfs.tar"
    subprocess.run(["tar", "-C", str(rootfs), "-cf", str(tarball), "."], check=True)
    podman("import", "--change", "CMD [\"/bin/bash\"]", str(tarball), BASE, capture=True)
    tarball.unlink()
    shutil.rmtree(rootfs)


def build_image() -> None:
    step("podman build")
    revision = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    started = time.monotonic()
    ca = ["-v", f"{HOST_CA}:/run/host-ca.crt:ro", "--build-arg", "PIP_CERT_FILE=/run/host-ca.crt"]
    podman("build", "--format", "docker", "--network", "host", *run_flags(), *ca, "--build-arg", f"BASE_IMAGE={BASE}",
           "--build-arg", f"REVISION={revision or 'unknown'}", "-t", IMAGE, str(ROOT))
    print(f"built in {time.monotonic() - started:.0f} s")


def inspect_image() -> None:
    (info,) = json.loads(podman("image", "inspect", IMAGE, capture=True).stdout)
    config = info["Config"]
    size_mb = info["Size"] / 1e6
    assert config["User"] == "1000:1000", config["User"]
    assert "/data" in config.get("Volumes", {}), config.get("Volumes")
    health = info.get("Healthcheck") or config.get("Healthcheck") or {}
    assert health.get("StartPeriod", 0) >= 60 * 10**9, health  # nanoseconds
    labels = config.get("Labels") or {}
    assert labels.get("org.opencontainers.image.title") == "smsgate-reference", labels
    print(f"image {IMAGE}: {size_mb:.0f} MB, user {config['User']}, volume /data, "
          f"health start period {health['StartPeriod'] // 10**9} s")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def request(method: str, url: str, body: Any = None, auth: tuple[str, str] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if data else {}
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data, headers, method=method), timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def start_server(port: int) -> str:
    podman("run", "-d", "--name", CONTAINER, "--network", "host", *run_flags(), "-e", f"HTTP__LISTEN=127.0.0.1:{port}",
           "-v", f"{VOLUME}:/data", IMAGE, capture=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if request("GET", f"{base}/health/ready")[0] == 200:
                return base
        except OSError:
            pass
        time.sleep(0.5)
    print(podman("logs", CONTAINER, check=False, capture=True).stdout)
    raise SystemExit("the server in the container did not become ready")


def remove_container() -> None:
    podman("rm", "-f", "-t", "10", CONTAINER, check=False, capture=True)


def message_survives_a_new_container() -> None:
    port = free_port()
    remove_container()
    podman("volume", "rm", "-f", VOLUME, check=False, capture=True)
    base = start_server(port)
    status, device = request("POST", f"{base}/api/mobile/v1/device", {"name": "image check"})
    assert status == 201, (status, device)
    auth = (device["login"], device["password"])
    status, sent = request("POST", f"{base}/api/3rdparty/v1/messages",
                           {"textMessage": {"text": "kept on the volume"}, "phoneNumbers": ["+79990001122"]}, auth)
    assert status == 202, (status, sent)
    step(f"phone registered, message {sent['id']} sent; recreating the container on volume {VOLUME}")
    remove_container()
    base = start_server(port)
    status, found = request("GET", f"{base}/api/3rdparty/v1/messages/{sent['id']}", auth=auth)
    assert status == 200 and found["id"] == sent["id"], (status, found)
    logs = podman("logs", CONTAINER, capture=True)
    assert "Traceback" not in logs.stdout + logs.stderr
    print(f"message {sent['id']} found after the container was recreated (state {found['state']})")
    remove_container()
    podman("volume", "rm", "-f", VOLUME, check=False, capture=True)


def console_scripts_answer() -> None:
    for script in SCRIPTS:
        result = podman("run", "--rm", "--network", "none", *run_flags(), IMAGE, script, "--help", capture=True,
                        check=False)
        assert result.returncode == 0 and "usage:" in result.stdout, (script, result.stdout, result.stderr)
        print(f"{script} --help: ok")


def main() -> None:
    if not shutil.which("podman"):
        raise SystemExit("podman not found: apt-get install podman runc debootstrap")
    started = time.monotonic()
    build_base()
    build_image()
    inspect_image()
    try:
        message_survives_a_new_container()
        console_scripts_answer()
    finally:
        remove_container()
    print(f"image check passed in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
