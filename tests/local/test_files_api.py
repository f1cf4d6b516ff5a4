"""The Mesos files API over real directories, through a real aiohttp server."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from framework.local.executors import files_routes

Body = Callable[[TestClient[web.Request, web.Application]], Awaitable[None]]
LATEST = "/slaves/S0/frameworks/F0/executors/E0/runs/latest"


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    root = tmp_path / "agent" / "sandbox"
    (root / "logs").mkdir(parents=True)
    (root / "stdout").write_bytes(b"0123456789abcdef")
    (root / "logs" / "app.log").write_text("line\n")
    (tmp_path / "outside.txt").write_text("secret")
    return root


def serve(sandbox: Path, body: Body, *, max_length: int = 1 << 16) -> None:
    """Run ``body`` against a server whose resolver knows two virtual roots."""
    roots = {str(sandbox): sandbox, LATEST: sandbox}

    async def main() -> None:
        app = web.Application()
        app.add_routes(files_routes(roots.get, max_length=max_length))
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            await body(client)

    asyncio.run(main())


def test_read_returns_data_from_offset_for_length(sandbox: Path) -> None:
    async def body(client: TestClient[web.Request, web.Application]) -> None:
        path = f"{sandbox}/stdout"
        response = await client.get(
            "/files/read", params={"path": path, "offset": "3", "length": "4"}
        )
        assert response.status == 200
        assert await response.json() == {"data": "3456", "offset": 3}

    serve(sandbox, body)


def test_read_at_offset_minus_one_returns_the_file_length(sandbox: Path) -> None:
    async def body(client: TestClient[web.Request, web.Application]) -> None:
        path = f"{sandbox}/stdout"
        for params in ({"path": path, "offset": "-1"}, {"path": path}):
            response = await client.get("/files/read", params=params)
            assert await response.json() == {"data": "", "offset": 16}

    serve(sandbox, body)


def test_read_without_length_is_capped(sandbox: Path) -> None:
    async def body(client: TestClient[web.Request, web.Application]) -> None:
        params = {"path": f"{LATEST}/stdout", "offset": "0"}
        response = await client.get("/files/read", params=params)
        assert await response.json() == {"data": "0123456789", "offset": 0}
        params["length"] = "100"
        response = await client.get("/files/read", params=params)
        assert await response.json() == {"data": "0123456789", "offset": 0}

    serve(sandbox, body, max_length=10)


def test_read_past_the_end_returns_no_data(sandbox: Path) -> None:
    async def body(client: TestClient[web.Request, web.Application]) -> None:
        params = {"path": f"{sandbox}/stdout", "offset": "99"}
        response = await client.get("/files/read", params=params)
        assert await response.json() == {"data": "", "offset": 99}

    serve(sandbox, body)


def test_tailing_follows_appended_output(sandbox: Path) -> None:
    async def body(client: TestClient[web.Request, web.Application]) -> None:
        path = f"{LATEST}/stdout"
        end = (
            await (
                await client.get("/files/read", params={"path": path, "offset": "-1"})
            ).json()
        )["offset"]
        with (sandbox / "stdout").open("a") as handle:
            handle.write("more\n")
        response = await client.get(
            "/files/read", params={"path": path, "offset": str(end)}
        )
        assert await response.json() == {"data": "more\n", "offset": 16}

    serve(sandbox, body)


def test_read_never_ends_inside_a_utf8_character(sandbox: Path) -> None:
    (sandbox / "utf8").write_bytes("aé€".encode())  # 1 + 2 + 3 bytes

    async def body(client: TestClient[web.Request, web.Application]) -> None:
        path = f"{sandbox}/utf8"
        response = await client.get(
            "/files/read", params={"path": path, "offset": "0", "length": "5"}
        )
        assert await response.json() == {"data": "aé", "offset": 0}
        response = await client.get("/files/read", params={"path": path, "offset": "3"})
        assert await response.json() == {"data": "€", "offset": 3}

    serve(sandbox, body)


def test_browse_lists_a_directory_like_mesos(sandbox: Path) -> None:
    async def body(client: TestClient[web.Request, web.Application]) -> None:
        response = await client.get("/files/browse", params={"path": LATEST})
        assert response.status == 200
        entries = await response.json()
        assert [e["path"] for e in entries] == [f"{LATEST}/logs", f"{LATEST}/stdout"]
        logs, stdout = entries
        assert logs["mode"].startswith("d")
        assert stdout["mode"] == "-rw-r--r--"
        assert stdout["size"] == 16
        assert set(stdout) == {"path", "nlink", "size", "mtime", "mode", "uid", "gid"}
        assert isinstance(stdout["uid"], str) and isinstance(stdout["gid"], str)

    os.chmod(sandbox / "stdout", 0o644)
    serve(sandbox, body)


def test_browse_of_a_file_lists_that_file(sandbox: Path) -> None:
    async def body(client: TestClient[web.Request, web.Application]) -> None:
        response = await client.get(
            "/files/browse", params={"path": f"{sandbox}/logs/app.log"}
        )
        entries = await response.json()
        assert [(e["path"], e["size"]) for e in entries] == [
            (f"{sandbox}/logs/app.log", 5)
        ]

    serve(sandbox, body)


def test_download_returns_the_whole_file(sandbox: Path) -> None:
    async def body(client: TestClient[web.Request, web.Application]) -> None:
        response = await client.get(
            "/files/download", params={"path": f"{LATEST}/logs/app.log"}
        )
        assert response.status == 200
        assert await response.read() == b"line\n"

    serve(sandbox, body)


@pytest.mark.parametrize(
    "path",
    ["/elsewhere/stdout", f"{LATEST}/missing", "/slaves/S0"],
    ids=["unknown-root", "missing-file", "unresolved-parent"],
)
def test_unknown_paths_are_not_found(sandbox: Path, path: str) -> None:
    async def body(client: TestClient[web.Request, web.Application]) -> None:
        for endpoint in ("/files/read", "/files/browse"):
            response = await client.get(endpoint, params={"path": path})
            assert response.status == 404, endpoint

    serve(sandbox, body)


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"path": ""},
        {"path": "P", "offset": "x"},
        {"path": "P", "length": "1.5"},
        {"path": "P", "offset": "-2"},
    ],
    ids=["no-path", "empty-path", "bad-offset", "bad-length", "offset-below-minus-one"],
)
def test_bad_parameters_are_bad_requests(sandbox: Path, params: dict[str, str]) -> None:
    async def body(client: TestClient[web.Request, web.Application]) -> None:
        query = {k: (f"{sandbox}/stdout" if v == "P" else v) for k, v in params.items()}
        response = await client.get("/files/read", params=query)
        assert response.status == 400

    serve(sandbox, body)


def test_reading_a_directory_is_a_bad_request(sandbox: Path) -> None:
    async def body(client: TestClient[web.Request, web.Application]) -> None:
        response = await client.get("/files/read", params={"path": f"{sandbox}/logs"})
        assert response.status == 400

    serve(sandbox, body)


def test_dot_dot_never_leaves_the_sandbox(sandbox: Path) -> None:
    async def body(client: TestClient[web.Request, web.Application]) -> None:
        for path in (
            f"{sandbox}/../../outside.txt",
            f"{LATEST}/logs/../../../outside.txt",
        ):
            for endpoint in ("/files/read", "/files/browse", "/files/download"):
                response = await client.get(
                    endpoint, params={"path": path, "offset": "0"}
                )
                assert response.status == 403, (endpoint, path)
                assert "secret" not in await response.text()

    serve(sandbox, body)


def test_symlinks_out_of_the_sandbox_are_refused(sandbox: Path) -> None:
    (sandbox / "escape").symlink_to(sandbox.parent.parent / "outside.txt")
    (sandbox / "up").symlink_to(sandbox.parent)
    (sandbox / "inner").symlink_to(sandbox / "logs")

    async def body(client: TestClient[web.Request, web.Application]) -> None:
        for path in (f"{LATEST}/escape", f"{LATEST}/up"):
            for endpoint in ("/files/read", "/files/browse"):
                response = await client.get(endpoint, params={"path": path})
                assert response.status == 403, (endpoint, path)
        # Symlinks that stay inside the sandbox (even via a detour) are fine.
        for path in (f"{LATEST}/inner", f"{LATEST}/up/sandbox/logs"):
            response = await client.get("/files/browse", params={"path": path})
            assert response.status == 200, path

    serve(sandbox, body)
