"""Install a real Consul binary for the conformance tests of the local Consul.

Why this exists: the local Consul (framework/local/consul) claims to answer as
Consul does. The tests in tests/local_consul check that claim against the
stand-in in every run; with a real Consul on the machine they run the same
checks against it too (tests/support/real_consul.py), so a mismatch shows up as
a failing test, not as a surprise on the vagrant/ cluster.

Which Consul: 1.8.7, the MPL-2.0 release Debian packaged for bullseye and
Ubuntu for jammy (universe). It is the one Consul a package registry serves
(HashiCorp's own downloads are not reachable from CI), and vagrant/ installs
the same version from Ubuntu's archive, so the tests and the VMs agree.

How: download the .deb (sha256-pinned) from Debian's pool, or from Ubuntu's
when Debian's is gone, and copy only `usr/bin/consul` out of its data member.
Nothing is installed system-wide and nothing from the package enters git.

Invariants: the binary is written only after the package's checksum matched;
an existing binary that reports the pinned version is reused; when no source
answers, the script says so on one line and exits 0, and the real-Consul tests
skip with that reason. Only the standard library is used (it runs before the
venv has anything else); a zstd-compressed data member (Ubuntu's) is read with
`dpkg-deb`, which every Debian-like machine has.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import lzma
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

VERSION = "1.8.7"
MEMBER = "./usr/bin/consul"


@dataclass(frozen=True)
class Source:
    url: str
    sha256: str


# Debian bullseye (main) first: Debian's pool is the registry CI is promised.
# Ubuntu jammy (universe) is the same upstream release, and what vagrant/ uses.
SOURCES = (
    Source(
        "https://deb.debian.org/debian/pool/main/c/consul/"
        "consul_1.8.7+dfsg1-2+b3_amd64.deb",
        "e4e888bba104daba1d9161f49bfc52649a7e4efd45b1a7ead5bc54f2cb9c89d9",
    ),
    Source(
        "http://archive.ubuntu.com/ubuntu/pool/universe/c/consul/"
        "consul_1.8.7+dfsg1-3_amd64.deb",
        "5dffb9dde12730b701f475005b2baf371aa7ea3c3bb4a183abd1c39767714c38",
    ),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=Path(".venv/bin/consul"))
    args = parser.parse_args(argv)

    # An earlier run already put the pinned version there: nothing to do.
    if reports_version(args.dest):
        print(f"consul {VERSION} already installed: {args.dest}")
        return 0
    if os.uname().machine not in ("x86_64", "amd64"):
        machine = os.uname().machine
        print(f"consul: no pinned package for {machine}; real-Consul tests will skip")
        return 0

    # Try each source in turn; the first whose bytes match its checksum wins.
    for source in SOURCES:
        try:
            install(download(source), args.dest)
        except (OSError, urllib.error.URLError, ValueError) as exc:
            print(f"consul: {source.url}: {exc}; trying the next source")
            continue
        print(f"consul {VERSION} installed: {args.dest}")
        return 0

    print("consul: no source answered; real-Consul tests will skip")
    return 0


def reports_version(path: Path) -> bool:
    if not path.is_file():
        return False
    try:
        out = subprocess.run(
            [str(path), "version"], capture_output=True, text=True, timeout=30
        ).stdout
    except OSError:
        return False
    return out.startswith(f"Consul v{VERSION}")


def download(source: Source) -> bytes:
    with urllib.request.urlopen(source.url, timeout=120) as response:
        data: bytes = response.read()
    digest = hashlib.sha256(data).hexdigest()
    if digest != source.sha256:
        raise ValueError(f"sha256 {digest} is not the pinned {source.sha256}")
    return data


def install(package: bytes, dest: Path) -> None:
    binary = extract_member(package)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.write_bytes(binary)
    tmp.chmod(0o755)
    tmp.replace(dest)


def extract_member(package: bytes) -> bytes:
    """Return usr/bin/consul from a .deb (an `ar` archive of tarballs)."""
    members = ar_members(package)
    if "data.tar.xz" in members:
        raw = lzma.decompress(members["data.tar.xz"])
        with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
            try:
                handle = tar.extractfile(MEMBER)
            except KeyError:
                handle = None
            if handle is None:
                raise ValueError(f"{MEMBER} is not a file in the package")
            return handle.read()
    return extract_with_dpkg(package)


def ar_members(package: bytes) -> dict[str, bytes]:
    if not package.startswith(b"!<arch>\n"):
        raise ValueError("not a Debian package (no ar header)")
    members: dict[str, bytes] = {}
    offset = 8
    while offset + 60 <= len(package):
        header = package[offset : offset + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        start = offset + 60
        members[name] = package[start : start + size]
        offset = start + size + (size % 2)
    return members


def extract_with_dpkg(package: bytes) -> bytes:
    if shutil.which("dpkg-deb") is None:
        raise ValueError("zstd data member and no dpkg-deb to read it")
    with tempfile.TemporaryDirectory(prefix="consul-deb-") as tmp:
        deb = Path(tmp) / "consul.deb"
        deb.write_bytes(package)
        subprocess.run(
            ["dpkg-deb", "-x", str(deb), str(Path(tmp) / "root")], check=True
        )
        return (Path(tmp) / "root" / MEMBER).read_bytes()


if __name__ == "__main__":
    sys.exit(main())
