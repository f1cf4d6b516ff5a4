"""tools/install_consul.py takes usr/bin/consul out of a checksum-pinned .deb.

The tests build small .deb files of the real layout (an `ar` archive holding
debian-binary, control.tar.xz and data.tar.xz) and serve them from a fake
`urlopen`, so they run without the network and check what the install relies
on: the checksum gate, the member it copies, and falling through to the next
source.
"""

from __future__ import annotations

import hashlib
import io
import lzma
import tarfile
import urllib.error
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.support import tools


def load_tool() -> ModuleType:
    return tools.load_tool("install_consul")


def ar_member(name: str, data: bytes) -> bytes:
    header = f"{name:<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(data):<10}`\n"
    return header.encode() + data + (b"\n" if len(data) % 2 else b"")


def make_deb(files: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    data_member = lzma.compress(raw.getvalue())
    return (
        b"!<arch>\n"
        + ar_member("debian-binary", b"2.0\n")
        + ar_member("control.tar.xz", lzma.compress(b""))
        + ar_member("data.tar.xz", data_member)
    )


class FakeResponse(io.BytesIO):
    def __enter__(self) -> FakeResponse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@pytest.fixture
def tool() -> ModuleType:
    return load_tool()


def serve(monkeypatch: pytest.MonkeyPatch, tool: ModuleType, answers: dict[str, Any]):
    asked: list[str] = []

    def urlopen(url: str, timeout: float) -> FakeResponse:
        asked.append(url)
        answer = answers[url]
        if isinstance(answer, Exception):
            raise answer
        return FakeResponse(answer)

    monkeypatch.setattr(tool.urllib.request, "urlopen", urlopen)
    monkeypatch.setattr(tool, "reports_version", lambda path: False)
    return asked


def sources(tool: ModuleType, *packages: bytes) -> tuple[Any, ...]:
    return tuple(
        tool.Source(f"https://registry.invalid/{i}.deb", hashlib.sha256(p).hexdigest())
        for i, p in enumerate(packages)
    )


def test_the_binary_is_copied_out_of_the_data_member_and_made_executable(
    tool: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    deb = make_deb({"./usr/bin/consul": b"\x7fELF consul", "./etc/x": b"no"})
    monkeypatch.setattr(tool, "SOURCES", sources(tool, deb))
    serve(monkeypatch, tool, {tool.SOURCES[0].url: deb})
    dest = tmp_path / "bin" / "consul"

    assert tool.main(["--dest", str(dest)]) == 0

    assert dest.read_bytes() == b"\x7fELF consul"
    assert dest.stat().st_mode & 0o111
    assert sorted(p.name for p in dest.parent.iterdir()) == ["consul"]


def test_a_package_with_the_wrong_checksum_is_never_installed(
    tool: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    good = make_deb({"./usr/bin/consul": b"good"})
    tampered = make_deb({"./usr/bin/consul": b"evil"})
    first, second = sources(tool, good, good)
    monkeypatch.setattr(tool, "SOURCES", (first, second))
    asked = serve(monkeypatch, tool, {first.url: tampered, second.url: good})
    dest = tmp_path / "consul"

    assert tool.main(["--dest", str(dest)]) == 0

    assert asked == [first.url, second.url]
    assert dest.read_bytes() == b"good"


def test_no_source_answering_installs_nothing_and_does_not_fail_the_build(
    tool: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    deb = make_deb({"./usr/bin/consul": b"x"})
    monkeypatch.setattr(tool, "SOURCES", sources(tool, deb))
    serve(monkeypatch, tool, {tool.SOURCES[0].url: urllib.error.URLError("offline")})
    dest = tmp_path / "consul"

    assert tool.main(["--dest", str(dest)]) == 0

    assert not dest.exists()
    assert "real-Consul tests will skip" in capsys.readouterr().out


def test_a_package_without_the_binary_is_refused(tool: ModuleType) -> None:
    with pytest.raises(ValueError, match="usr/bin/consul is not a file"):
        tool.extract_member(make_deb({"./usr/bin/other": b"x"}))


def test_a_file_that_is_not_a_deb_is_refused(tool: ModuleType) -> None:
    with pytest.raises(ValueError, match="no ar header"):
        tool.extract_member(b"PK\x03\x04 a zip")
