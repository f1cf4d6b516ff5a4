"""The Mesos files API (``/files/read``, ``/files/browse``, ``/files/download``).

Clients name files by *virtual* paths: the sandbox's absolute path on the agent,
or ``/slaves/<agent>/frameworks/<fw>/executors/<ex>/runs/latest/...``. The
caller's ``resolve`` maps a virtual directory to a real one; the handler tries
the longest prefix of the requested path first (like Mesos's attached paths),
then appends the rest.

Invariants:

* Nothing outside a resolved root is ever read or listed: ``..`` components are
  refused (403) before touching the disk, and a path whose real location (after
  symlinks) leaves the root is refused (403) too.
* File-system work runs in a worker thread and reads at most ``max_length``
  bytes per request, so a large file never blocks the event loop.
* Responses use Mesos's shapes: read → ``{"data", "offset"}``, browse → a list
  of ``{"path", "nlink", "size", "mtime", "mode", "uid", "gid"}``.

Deviations: ``data`` is the bytes decoded as UTF-8 (invalid bytes become
U+FFFD), and a read never ends inside a multi-byte character unless that
character alone exceeds the read, so clients that advance by ``len(data)`` stay
aligned on ASCII output. ``jsonp`` is not supported.
"""

from __future__ import annotations

import asyncio
import grp
import os
import pwd
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

DEFAULT_MAX_LENGTH = 16 * 4096
"""Longest read Mesos serves in one request (16 pages)."""

Resolver = Callable[[str], Path | None]


@dataclass(frozen=True)
class _Located:
    virtual: str  # normalised: "/a/b"
    real: Path  # the file or directory, symlinks resolved, inside ``root``
    is_dir: bool


def files_routes(
    resolve: Resolver, *, max_length: int = DEFAULT_MAX_LENGTH
) -> list[web.RouteDef]:
    """Routes for the files API; ``resolve`` maps a virtual directory to a real
    one (or None when the path is not one it serves)."""
    api = _FilesApi(resolve, max_length)
    routes: list[web.RouteDef] = []
    # The ".json" forms are what Mesos before 1.0 served; some clients still ask.
    for suffix in ("", ".json"):
        routes.append(web.get(f"/files/read{suffix}", api.read))
        routes.append(web.get(f"/files/browse{suffix}", api.browse))
        routes.append(web.get(f"/files/download{suffix}", api.download))
    return routes


class _FilesApi:
    def __init__(self, resolve: Resolver, max_length: int) -> None:
        self._resolve = resolve
        self._max_length = max_length

    async def read(self, request: web.Request) -> web.Response:
        """``{"data": ..., "offset": O}``; offset -1 answers the file's length."""
        virtual = _required_path(request)
        offset = _integer(request, "offset", -1)
        length = _integer(request, "length", -1)
        located = await self._locate(virtual)
        if located.is_dir:
            raise web.HTTPBadRequest(text=f"Cannot read a directory: {virtual}\n")
        cap = self._max_length if length == -1 else min(length, self._max_length)
        data, offset = await asyncio.to_thread(_read_chunk, located.real, offset, cap)
        return web.json_response({"data": data, "offset": offset})

    async def browse(self, request: web.Request) -> web.Response:
        """The entries of a directory (or the one entry of a file)."""
        located = await self._locate(_required_path(request))
        entries = await asyncio.to_thread(_list_entries, located)
        return web.json_response(entries)

    async def download(self, request: web.Request) -> web.StreamResponse:
        """The whole file, streamed, as an attachment."""
        located = await self._locate(_required_path(request))
        if located.is_dir:
            raise web.HTTPBadRequest(text="Cannot download a directory\n")
        response = web.FileResponse(located.real)
        name = located.real.name.replace('"', "")
        response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
        return response

    async def _locate(self, virtual: str) -> _Located:
        """The real file behind ``virtual``, or the HTTP error to answer."""
        parts = [p for p in virtual.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise web.HTTPForbidden(text="Paths with '..' are not served\n")
        normalised = "/" + "/".join(parts)
        # The longest prefix the resolver knows is the root; the rest is below it.
        for cut in range(len(parts), 0, -1):
            root = self._resolve("/" + "/".join(parts[:cut]))
            if root is not None:
                real, is_dir = await asyncio.to_thread(_inside, root, parts[cut:])
                return _Located(normalised, real, is_dir)
        raise web.HTTPNotFound(text=f"No such file or directory: {normalised}\n")


def _inside(root: Path, rest: list[str]) -> tuple[Path, bool]:
    """``root/rest`` with symlinks resolved, if it exists and stays in ``root``;
    with whether it is a directory."""
    base = Path(os.path.realpath(root))
    real = Path(os.path.realpath(base.joinpath(*rest)))
    if real != base and base not in real.parents:
        raise web.HTTPForbidden(text="The path leads outside the sandbox\n")
    if not real.exists():
        raise web.HTTPNotFound(text="No such file or directory\n")
    return real, real.is_dir()


def _read_chunk(path: Path, offset: int, length: int) -> tuple[str, int]:
    """(data, offset) as Mesos answers; offset -1 → ("", size)."""
    try:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if offset == -1:
                return "", size
            if offset >= size or length == 0:
                return "", offset
            handle.seek(offset)
            raw = handle.read(length)
    except OSError as error:
        raise web.HTTPNotFound(
            text=f"Cannot read the file: {error.strerror}\n"
        ) from None
    return _trim_partial_character(raw).decode("utf-8", errors="replace"), offset


def _trim_partial_character(raw: bytes) -> bytes:
    """Drop an incomplete UTF-8 sequence at the end, if something is left."""
    # Walk back over at most 3 continuation bytes to the lead byte.
    for back in range(1, min(4, len(raw)) + 1):
        byte = raw[-back]
        if byte & 0b1100_0000 == 0b1000_0000:
            continue
        if byte < 0b1100_0000:
            return raw  # ASCII (or stray continuation bytes): nothing to trim
        needed = 2 if byte < 0b1110_0000 else 3 if byte < 0b1111_0000 else 4
        if back < needed and back < len(raw):
            return raw[:-back]
        return raw
    return raw


def _list_entries(located: _Located) -> list[dict[str, Any]]:
    """Mesos's file info for each entry of a directory, or for the file itself."""
    if not located.is_dir:
        return [_file_info(located.virtual, located.real.stat())]
    entries = []
    with os.scandir(located.real) as scan:
        for entry in sorted(scan, key=lambda e: e.name):
            virtual = located.virtual.rstrip("/") + "/" + entry.name
            try:
                entries.append(_file_info(virtual, entry.stat(follow_symlinks=False)))
            except OSError:
                continue  # removed while we listed it
    return entries


def _file_info(virtual: str, st: os.stat_result) -> dict[str, Any]:
    return {
        "path": virtual,
        "nlink": st.st_nlink,
        "size": st.st_size,
        "mtime": int(st.st_mtime),
        "mode": stat.filemode(st.st_mode),
        "uid": _user_name(st.st_uid),
        "gid": _group_name(st.st_gid),
    }


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _required_path(request: web.Request) -> str:
    path = request.query.get("path")
    if not path:
        raise web.HTTPBadRequest(text="Expecting 'path' in query string\n")
    return path


def _integer(request: web.Request, name: str, default: int) -> int:
    """An integer query parameter >= -1, or 400 naming the parameter."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise web.HTTPBadRequest(
            text=f"Failed to parse {name}: {raw!r} is not an integer\n"
        ) from None
    if value < -1:
        raise web.HTTPBadRequest(text=f"Negative {name} provided: {value}\n")
    return value
