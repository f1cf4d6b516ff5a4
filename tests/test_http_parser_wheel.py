"""tools/build_http_parser_wheel.py turns an sdist into a pure-Python wheel.

The test builds a small sdist of the same layout as http-parser 0.9.0 (a C
extension source, a compiled module and Python modules), so it runs without
the network and checks what the real build relies on.
"""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

from tests.support import tools


def load_tool() -> ModuleType:
    return tools.load_tool("build_http_parser_wheel")


def make_sdist(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(f"http-parser-0.9.0/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def sdist(tmp_path: Path) -> Path:
    return make_sdist(
        tmp_path / "http-parser-0.9.0.tar.gz",
        {
            "setup.py": b"import imp\n",
            "LICENSE": b"MIT licence text\n",
            "http_parser/__init__.py": b"version_info = (0, 9, 0)\n",
            "http_parser/pyparser.py": b"class HttpParser: pass\n",
            "http_parser/http.py": b"from http_parser.pyparser import HttpParser\n",
            "http_parser/parser.pyx": b"cdef int x\n",
            "http_parser/parser.c": b"int x;\n",
            "http_parser/parser.cpython-37m-darwin.so": b"\x7fELF",
        },
    )


def test_wheel_holds_only_python_modules_and_valid_metadata(
    sdist: Path, tmp_path: Path
) -> None:
    tool = load_tool()
    assert tool.main(["--dest", str(tmp_path / "out"), "--sdist", str(sdist)]) == 0

    wheel = tmp_path / "out" / "http_parser-0.9.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        record = archive.read("http_parser-0.9.0.dist-info/RECORD").decode()
        metadata = archive.read("http_parser-0.9.0.dist-info/METADATA").decode()
        tags = archive.read("http_parser-0.9.0.dist-info/WHEEL").decode()
        contents = {name: archive.read(name) for name in names}

    assert {n for n in names if n.startswith("http_parser/")} == {
        "http_parser/__init__.py",
        "http_parser/pyparser.py",
        "http_parser/http.py",
    }
    assert "Name: http-parser\nVersion: 0.9.0\n" in metadata
    assert "Tag: py3-none-any" in tags and "Root-Is-Purelib: true" in tags
    for line in record.splitlines():
        path, digest, size = line.split(",")
        if path.endswith("RECORD"):
            continue
        data = contents[path]
        expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
        assert digest == "sha256=" + expected.decode()
        assert int(size) == len(data)


def test_wheel_is_reproducible_and_reused(sdist: Path, tmp_path: Path) -> None:
    tool = load_tool()
    tool.main(["--dest", str(tmp_path / "a"), "--sdist", str(sdist)])
    tool.main(["--dest", str(tmp_path / "b"), "--sdist", str(sdist)])
    name = "http_parser-0.9.0-py3-none-any.whl"
    first = (tmp_path / "a" / name).read_bytes()
    assert first == (tmp_path / "b" / name).read_bytes()
    assert tool.main(["--dest", str(tmp_path / "a"), "--sdist", str(sdist)]) == 0
    assert (tmp_path / "a" / name).read_bytes() == first


def test_sdist_without_the_pure_python_parser_is_refused(tmp_path: Path) -> None:
    tool = load_tool()
    broken = make_sdist(tmp_path / "x.tar.gz", {"http_parser/parser.c": b"int x;\n"})
    with pytest.raises(SystemExit, match=r"pyparser\.py"):
        tool.main(["--dest", str(tmp_path / "out"), "--sdist", str(broken)])
