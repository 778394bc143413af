"""Reading windows of input rasters: each internal tile decoded once, tiles fetched concurrently.

An output block rarely matches its inputs' tiles: a bbox a user types is not aligned with
them, Earth Search's COGs are tiled in 1024 px, and its 20 m bands cover 2048 output pixels
per tile. Reading a window straight through GDAL decodes every tile it touches, so a tile
shared by four blocks was decoded four times (measured on an unaligned 2048^2 order: 4x the
decode floor; 9x with Earth Search's layout). Here a window is assembled from whole tiles:

- a tile is decoded once per build and kept in a process-wide cache bounded in bytes
  (`TILE_CACHE_BYTES`), least recently used first out; a thread asking for a tile another
  thread is decoding waits for it rather than decoding it again;
- the tiles of a block are fetched concurrently: by a pool of I/O threads (`IO_THREADS`)
  through GDAL, or, for remote COGs on plain http(s) URLs, on the HTTP event loop of
  `engine.remote_cog` (async-tiff; no thread waits, no HEAD, a file's tiles in one call), so
  the latency of object storage is paid once per round, not once per tile;
- every decode, open and compressed byte is counted per build (`ReadStats`).

A read session (a string) names one build's reads: its cache entries, open datasets and
counters; a child session (``parent/name``) ends with its parent. Rasters on a lattice
simply related to the output grid (`engine.lattice`) are read this way; others (another
CRS) go through stackstac's warping reader, the only use of stackstac in l3a.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, fields
from typing import Any, Protocol
from urllib.parse import urlsplit

import numpy as np
import numpy.typing as npt
import rasterio
import rasterio.enums
import rasterio.errors
from rasterio.windows import Window

from catalog.model import Grid
from engine import remote_cog
from engine.lattice import WindowPlan, plan_window, resample_into
from engine.source_info import SourceInfo, unit_of
from engine.tile_buffers import TileBuffers
from engine.tile_spill import TileSpill

#: Decoded tiles kept in memory by a process, in bytes. Blocks run tile by tile
#: (`engine.blocking`), so what must fit is the stack of one tile position: a month on Earth
#: Search's layout (20 m tiles shared by 16 blocks of 512 px) needs about 260 MB. What does
#: not fit but will be read again goes to the spill (`SPILL_DIR`), or, without one, is decoded
#: again (counted in ``redecoded``). A long period's stack is far larger (92 dates of 11
#: assets, 512 px tiles: 530 MB) and its blocks too; measured there, this budget keeps a
#: synthesis under 1 GiB (1,039 MiB with 256 MB, 1,150 MiB with 384).
TILE_CACHE_BYTES = int(os.environ.get("L3A_TILE_CACHE_MB", "224")) * 1024**2
#: Where decoded tiles that do not fit the cache but will be read again go (a long period:
#: `engine.tile_spill`), and how many bytes of them at most; 0 turns the spill off.
SPILL_DIR = os.environ.get("L3A_SPILL_DIR") or None
SPILL_BYTES = int(os.environ.get("L3A_SPILL_MB", "16384")) * 1024**2
#: Concurrent tile reads of a process. Decoding releases the GIL, and over HTTP most of a
#: read is waiting: 16 in flight hide a 20 ms latency behind the decoding of two cores.
IO_THREADS = int(os.environ.get("L3A_IO_THREADS", "16"))
#: Bytes of tiles a block reader fetches ahead of the one it places.
AHEAD_BYTES = 64 * 1024**2
#: Idle open datasets kept by the process, in bytes of what they hold (`_Pool`: a full pool
#: keeps what it has). An open GDAL dataset keeps its last compressed tile: 132 inputs in
#: 1024 px tiles kept open held 200 MB. Closing each after use cost instead a reopen a read
#: (0.5 ms with the GIL held, 1-2 ms in all: 4 s of a build over 2,112 tiles of 512 px); a
#: handle the pool cannot keep first decodes its file's other announced tiles
#: (`_decode_ahead`).
OPEN_BYTES = int(os.environ.get("L3A_OPEN_MB", "96")) * 1024**2
#: Used tiles' arrays kept to decode into again (`engine.tile_buffers`), at most: at 2 MB a
#: tile (1024 px), 32 MB more at the peak.
TILE_BUFFERS = 16
#: URL schemes of remote files, whose tiles a block fetches ahead (`TiledReader.prefetch`).
REMOTE_SCHEMES = frozenset({"http", "https", "s3", "gs", "az", "azure", "abfs"})
#: Remote files whose header a process keeps (`engine.remote_cog`): a few kB each.
REMOTE_FILES = 2048


class BlockReader(Protocol):
    """What the loader asks of a reader: every asset of every item on one output window."""

    def read_block(self, out: npt.NDArray[Any], hrefs: tuple[tuple[str | None, ...], ...],
                   window: tuple[int, int, int, int]) -> None:
        """Fill ``out`` (T, A, rows, cols) with ``hrefs[t][a]`` on output ``window``.

        ``window`` is (row, col, height, width); the fill value goes where an href is None or
        has no data.
        """


@dataclass
class ReadStats:
    """What one build read, in one process.

    ``requests`` counts opens and tile reads (one request each over HTTP, less what GDAL
    merges or caches); ``bytes`` the compressed bytes of the tiles decoded; ``spilled`` the
    tiles the cache wrote to its scratch file (`engine.tile_spill`), ``unspilled`` the reads
    of them back.
    """

    opens: int = 0
    reopens: int = 0
    tiles: int = 0
    bytes: int = 0
    cache_hits: int = 0
    redecoded: int = 0
    spilled: int = 0
    unspilled: int = 0
    warped: int = 0
    _decoded: set[Any] = field(default_factory=set, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def requests(self) -> int:
        """Opens plus tile reads plus warped window reads."""
        return self.opens + self.tiles + self.warped

    def as_dict(self) -> dict[str, int]:
        """The counters and ``requests``, for logs and reports."""
        return {"requests": self.requests,
                **{f.name: getattr(self, f.name) for f in fields(self) if f.repr}}

    def add(self, other: dict[str, int]) -> None:
        """Add another process's counters (`as_dict`) to these."""
        self.count(**{f.name: other.get(f.name, 0) for f in fields(self) if f.repr})

    def count(self, **increments: int) -> None:
        """Add to counters, thread-safely."""
        with self._lock:
            for name, value in increments.items():
                setattr(self, name, getattr(self, name) + value)

    def decoded(self, key: Any, size: int) -> None:
        """Count a tile decoded (and whether it was decoded before in this build)."""
        with self._lock:
            self.tiles += 1
            self.bytes += size
            if key in self._decoded:
                self.redecoded += 1
            self._decoded.add(key)


_stats: dict[str, ReadStats] = {}
_stats_lock = threading.Lock()


def stats_of(session: str) -> ReadStats:
    """The counters of a read session in this process (created empty)."""
    with _stats_lock:
        return _stats.setdefault(session, ReadStats())


def end_session(session: str) -> dict[str, int]:
    """Forget a session in this process: its cached tiles and counters; return the counters.

    On a cluster, run on every worker (``client.run``) and add up. Reads of the session
    still queued are dropped (their waiters get `SessionEnded`), and the ones under way are
    waited for: after a failed build, nothing of it keeps reading.
    """
    def ours(name: str) -> bool:
        return name == session or name.startswith(session + "/")

    with _jobs_lock:
        _ended.add(session)
        running = [job for name in [n for n in _jobs if ours(n)] for job in _jobs.pop(name)]
    wait(running)
    _tiles.drop(lambda key: ours(key[0]))
    _pool.close(lambda key: ours(key[0]))
    _buffers.clear()  # a long-lived worker does not keep a build's arrays between builds
    with _infos_lock:
        for key in [k for k in _infos if ours(k[0])]:
            del _infos[key]
        for key in [k for k in _announced if ours(k[0])]:
            del _announced[key]
    with _stats_lock:
        stats = _stats.pop(session, None)
    return stats.as_dict() if stats is not None else ReadStats().as_dict()


def child_session(session: str, name: str) -> str:
    """A session of its own inside ``session``: ending ``session`` ends it too."""
    return f"{session}/{name}"


class _Source:
    """An open dataset and its `SourceInfo`."""

    def __init__(self, href: str) -> None:
        self.dataset = rasterio.open(href)
        crs = self.dataset.crs
        height, width = self.dataset.shape
        block_rows, block_cols = self.dataset.block_shapes[0]
        self.info = SourceInfo(
            epsg=crs.to_epsg() if crs is not None else None,
            transform=tuple(self.dataset.transform)[:6],
            shape=(height, width),
            nodata=self.dataset.nodata,
            dtype=self.dataset.dtypes[0],
            unit=unit_of((block_rows, block_cols), (height, width)),
            block=(block_rows, block_cols),
        )

    @property
    def weight(self) -> int:
        """What it holds once read, about: its last tile, compressed by half (`_Pool`)."""
        rows, cols = self.info.unit
        return rows * cols * np.dtype(self.info.dtype).itemsize // 2

    def close(self) -> None:
        self.dataset.close()


class _Pool:
    """Open handles of this process, by (session, href), shared by threads.

    A handle is used by one thread at a time (GDAL datasets are not thread-safe): `take`
    hands out an idle one or opens another, `give` returns it (or closes it, if the file
    has an idle one already, or if it would take the pool beyond ``limit``, counted in the
    handles' ``weight``, 1 for a handle without one). A full pool keeps the handles it has
    rather than the latest: blocks read their files in the same order, one block after the
    other, and over more files than the pool holds, closing the oldest closed each one
    before its next use (an annual order of 1,023 files: 3,720 reopens; 2,307 this way).
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        # One idle handle a file at most: its reads are grouped in one job.
        self._idle: dict[tuple[str, str], Any] = {}
        self._count = 0
        self._lock = threading.Lock()

    def take(self, key: tuple[str, str], make: Callable[[], Any]) -> Any:
        with self._lock:
            handle = self._idle.pop(key, None)
            if handle is not None:
                self._count -= getattr(handle, "weight", 1)
                return handle
        return make()

    def keeps(self, key: tuple[str, str], handle: Any) -> bool:
        """Whether `give` would keep ``handle`` idle now (rather than close it)."""
        with self._lock:
            return self._fits(key, handle)

    def give(self, key: tuple[str, str], handle: Any) -> None:
        with self._lock:
            if self._fits(key, handle):
                self._idle[key] = handle
                self._count += getattr(handle, "weight", 1)
                return
        # The file has an idle handle already (each keeps its last compressed tile in
        # memory), or the pool is full and keeps the ones it has.
        handle.close()

    def _fits(self, key: tuple[str, str], handle: Any) -> bool:
        return key not in self._idle and self._count + getattr(handle, "weight", 1) <= self.limit

    def close(self, which: Callable[[tuple[str, str]], bool]) -> None:
        """Close the idle handles whose key ``which`` selects."""
        with self._lock:
            for key in [k for k in self._idle if which(k)]:
                handle = self._idle.pop(key)
                handle.close()
                self._count -= getattr(handle, "weight", 1)


class TileCache:
    """Decoded tiles by key, bounded in bytes; one decode per key.

    Entries are futures: a second thread asking for a tile being decoded waits for that
    decode. A tile whose readers are announced (`expect`) leaves as soon as the last of them
    is done with it (`release`); beyond the budget, the least recently used tile nobody
    announced leaves (and is decoded again if asked for). When the announced tiles alone
    fill the budget (a long period: a tile position's stack of every date), a newcomer goes
    to the ``spill`` file, if there is one, and is read back from there until its last
    announced read; without a spill, or beyond its limit, it is not kept. Tiles still being
    decoded never leave. ``counted(key, name)`` hears of every tile written to the spill
    (``spilled``) and read back (``unspilled``).
    """

    def __init__(self, budget: int, spill: TileSpill | None = None,
                 counted: Callable[[Any, str], None] | None = None,
                 buffers: TileBuffers | None = None) -> None:
        self.budget, self.spill = budget, spill
        #: Where tiles go once the cache lets them go; without one, nothing is kept.
        self.buffers = buffers if buffers is not None else TileBuffers(0)
        self._counted = counted
        self._entries: OrderedDict[Any, Future[npt.NDArray[Any]]] = OrderedDict()
        self._sizes: dict[Any, int] = {}
        self._pending: dict[Any, int] = {}
        #: Tiles in memory that no read announced, least recently used first: the ones that
        #: may leave. In a build every read is announced, and a fill then finds at once that
        #: none may (scanning every entry under the lock, each fill, held up the readers).
        self._unannounced: OrderedDict[Any, None] = OrderedDict()
        self._used = 0
        #: Tiles in the spill: offset, shape, dtype; tiles being written to it, being read
        #: from it (by how many readers), and slots to free once their readers are done.
        self._spilled: dict[Any, tuple[int, tuple[int, ...], np.dtype[Any]]] = {}
        self._writing: set[Any] = set()
        self._reading: dict[Any, int] = {}
        self._orphans: dict[Any, list[tuple[int, int]]] = {}
        self._lock = threading.Lock()

    def expect(self, counts: Mapping[Any, int]) -> None:
        """Announce how many more reads each key will have."""
        with self._lock:
            for key, count in counts.items():
                self._pending[key] = self._pending.get(key, 0) + count
                self._unannounced.pop(key, None)

    def release(self, key: Any) -> None:
        """One announced read of ``key`` is done; the last one lets the tile go."""
        with self._lock:
            left = self._pending.get(key)
            if left is None:
                return
            if left > 1:
                self._pending[key] = left - 1
                return
            del self._pending[key]
            if key in self._sizes:
                self._forget(key)
            elif key in self._spilled:
                self._unspill(key)
            # A tile being written to the spill is let go by its writer (`_spill_out`).

    def unread(self, keys: Iterable[Any]) -> list[Any]:
        """The ``keys`` with announced reads left that are nowhere yet.

        Nowhere: not in memory, not in the spill, not being decoded or written.
        """
        with self._lock:
            return [key for key in keys if self._pending.get(key, 0) > 0
                    and key not in self._entries and key not in self._spilled]

    def claim(self, keys: Sequence[Any], rows: Sequence[tuple[int, int]] | None = None
              ) -> tuple[list[Future[npt.NDArray[Any]]], list[int]]:
        """The futures of ``keys``, and the positions of those nobody is decoding yet.

        The caller must `fill` every future it was given to decode. Spilled tiles are read
        back here, in the caller's thread; with ``rows`` (a row range of each tile), only
        those rows are: the others of the tile read back hold stale values, so such a
        future is for the caller alone, which reads no other row (a 128 px block of a
        512 px tile reads a quarter of it back, not all of it).
        """
        futures: list[Future[npt.NDArray[Any]]] = []
        missing: list[int] = []
        on_disk: list[tuple[Future[npt.NDArray[Any]], Any, int, tuple[int, ...], Any,
                            tuple[int, int] | None]] = []
        with self._lock:
            for i, key in enumerate(keys):
                entry = self._entries.get(key)
                if entry is None and key in self._spilled:
                    entry = Future()
                    on_disk.append((entry, key, *self._spilled[key],
                                    None if rows is None else rows[i]))
                    self._reading[key] = self._reading.get(key, 0) + 1
                elif entry is None:
                    entry = Future()
                    self._entries[key] = entry
                    missing.append(i)
                else:
                    self._entries.move_to_end(key)
                    if key in self._unannounced:
                        self._unannounced.move_to_end(key)
                futures.append(entry)
        for entry, key, offset, shape, dtype, wanted in on_disk:
            try:
                entry.set_result(self._spill_in(key, offset, shape, dtype, wanted))
            except OSError as exc:
                entry.set_exception(exc)
        return futures, missing

    def fill(self, key: Any, entry: Future[npt.NDArray[Any]],
             tile: npt.NDArray[Any] | None, error: BaseException | None = None,
             ahead: bool = False) -> None:
        """Give a claimed future its tile, or its error (a failed read is not kept).

        A tile decoded ``ahead`` of its reads (`_decode_units`) has no reader yet: if it
        does not fit, it goes to the spill for its first read too.
        """
        offset = None
        with self._lock:
            mine = self._entries.get(key) is entry
            if mine and tile is not None:
                self._sizes[key] = tile.nbytes
                if key not in self._pending:
                    self._unannounced[key] = None
                self._used += tile.nbytes
                if not self._evict(key):
                    self._used -= self._sizes.pop(key)
                    self._unannounced.pop(key, None)
                    # Only a tile read again later: its readers now have it already.
                    if self.spill is not None and self._pending.get(key, 0) > (0 if ahead else 1):
                        offset = self.spill.reserve(tile.nbytes)
                    if offset is None:
                        del self._entries[key]
                        self.buffers.give(tile)  # free once its readers have placed it
                    else:
                        self._writing.add(key)  # served from memory until written
            elif mine:
                del self._entries[key]  # the next read retries
        if tile is not None:
            entry.set_result(tile)
        else:
            entry.set_exception(error or RuntimeError("no tile"))
        if offset is not None and tile is not None:
            self._spill_out(key, entry, tile, offset)

    def _spill_out(self, key: Any, entry: Future[npt.NDArray[Any]], tile: npt.NDArray[Any],
                   offset: int) -> None:
        """Write a tile that does not fit to the spill, then serve it from there."""
        assert self.spill is not None
        try:
            self.spill.write(offset, tile)
            written = True
        except OSError:
            written = False  # a full disk: the tile is decoded again when asked for
        with self._lock:
            self._writing.discard(key)
            if self._entries.get(key) is entry:
                del self._entries[key]
            if written and self._pending.get(key, 0) > 0:
                self._spilled[key] = (offset, tile.shape, tile.dtype)
            else:  # released or dropped while written
                self.spill.free(offset, tile.nbytes)
        self.buffers.give(tile)  # its readers have it; the cache no longer does
        if written and self._counted is not None:
            self._counted(key, "spilled")

    def _spill_in(self, key: Any, offset: int, shape: tuple[int, ...], dtype: np.dtype[Any],
                  rows: tuple[int, int] | None = None) -> npt.NDArray[Any]:
        """Read a spilled tile back, or its ``rows``; its slot is not reused while it is read."""
        assert self.spill is not None
        try:
            tile = self.buffers.take(shape, dtype)
            r0, r1 = (0, shape[0]) if rows is None else rows
            # A C-ordered tile's rows are contiguous bytes: the range is one read.
            row_bytes = tile[0].nbytes if shape[0] else 0
            self.spill.read(offset + r0 * row_bytes, tile[r0:r1].shape, dtype, out=tile[r0:r1])
        finally:
            with self._lock:
                self._reading[key] -= 1
                if not self._reading[key]:
                    del self._reading[key]
                    for slot in self._orphans.pop(key, []):
                        self.spill.free(*slot)
        if self._counted is not None:
            self._counted(key, "unspilled")
        return tile

    def _unspill(self, key: Any) -> None:
        """Let a spilled tile go (under the lock): its slot now, or after its readers."""
        assert self.spill is not None
        offset, shape, dtype = self._spilled.pop(key)
        nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
        if key in self._reading:
            self._orphans.setdefault(key, []).append((offset, nbytes))
        else:
            self.spill.free(offset, nbytes)

    def _evict(self, newcomer: Any) -> bool:
        """Whether the newcomer fits, once the tiles nobody announced have left.

        They leave least recently used first. If the announced tiles alone exceed the
        budget, the newcomer does not fit: keeping the older ones serves their announced
        reads, where evicting them in turn would make every read of a long cycle miss.
        """
        for key in list(self._unannounced):
            if self._used <= self.budget:
                return True
            if key != newcomer:
                self._forget(key)
        return self._used <= self.budget

    def _forget(self, key: Any) -> None:
        entry = self._entries.pop(key)
        self._used -= self._sizes.pop(key)
        self._unannounced.pop(key, None)
        self.buffers.give(entry.result())  # a tile in `_sizes` is decoded

    def drop(self, which: Callable[[Any], bool]) -> None:
        """Forget the entries and announced reads whose key ``which`` selects."""
        with self._lock:
            for key in [k for k in self._entries if which(k)]:
                del self._entries[key]
                self._used -= self._sizes.pop(key, 0)
                self._unannounced.pop(key, None)
            for key in [k for k in self._spilled if which(k)]:
                self._unspill(key)
            for key in [k for k in self._pending if which(k)]:
                del self._pending[key]

    @property
    def used(self) -> int:
        """Bytes of decoded tiles held in memory."""
        return self._used

    @property
    def spilled(self) -> int:
        """Tiles held in the spill."""
        return len(self._spilled)


def _return_freed_tiles_to_the_system() -> None:
    """Have glibc map arrays of 256 KiB and more on their own, and unmap them when freed.

    Tiles (0.5-2 MB) are allocated and freed by many threads; by default glibc raises its
    mmap threshold after the first frees and then serves such arrays from per-thread
    arenas, which keep the freed memory: measured on an Earth Search order, the peak was
    130 MB lower with the threshold fixed. Elsewhere than glibc, nothing changes.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, 256 * 1024)
    except (OSError, AttributeError):
        pass


_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
_return_freed_tiles_to_the_system()
_pool = _Pool(OPEN_BYTES)


def _count_spill(key: Any, name: str) -> None:
    stats_of(key[0]).count(**{name: 1})


_buffers = TileBuffers(TILE_BUFFERS)
_tiles = TileCache(TILE_CACHE_BYTES, TileSpill(SPILL_DIR, SPILL_BYTES) if SPILL_BYTES else None,
                   counted=_count_spill, buffers=_buffers)
_infos: dict[tuple[str, str], SourceInfo] = {}
#: The units of each file a session's loads announced (`expect_reads`), by (session, href).
_announced: dict[tuple[str, str], set[tuple[int, int]]] = {}
_infos_lock = threading.Lock()
#: Remote files async-tiff opened (None: GDAL reads them), by (href, GDAL settings).
_remotes: OrderedDict[tuple[str, tuple[tuple[str, Any], ...]],
                      Future[remote_cog.RemoteCog | None]] = OrderedDict()
_io: ThreadPoolExecutor | None = None
_io_lock = threading.Lock()
_thread = threading.local()
#: Read jobs under way or queued, by session; sessions ended in this process.
_jobs: dict[str, set[Future[Any]]] = {}
_ended: set[str] = set()
_jobs_lock = threading.Lock()


class SessionEnded(RuntimeError):
    """A read of a session that has ended (its build failed or was cancelled)."""


def _submit(session: str, job: Callable[..., Any], *args: Any) -> Future[Any]:
    """Run a read job of ``session`` on the I/O pool, tracked so that `end_session` waits."""
    with _jobs_lock:
        _check_open(session)
        future = _io_pool().submit(job, *args)
        _jobs.setdefault(session, set()).add(future)

    def forget(done: Future[Any]) -> None:
        with _jobs_lock:
            _jobs.get(session, set()).discard(done)

    future.add_done_callback(forget)
    return future


def _has_ended(session: str) -> bool:
    parts = session.split("/")
    return any("/".join(parts[:i]) in _ended for i in range(1, len(parts) + 1))


def _check_open(session: str) -> None:
    if _has_ended(session):
        raise SessionEnded(f"read session {session} has ended")


def _io_pool() -> ThreadPoolExecutor:
    global _io
    with _io_lock:
        if _io is None:
            _io = ThreadPoolExecutor(IO_THREADS, thread_name_prefix="l3a-io")
        return _io


def _use_gdal_config(env: tuple[tuple[str, Any], ...]) -> None:
    """GDAL settings ``env`` for this thread's reads from now on.

    GDAL's settings are per thread (rasterio sets them thread-locally), and entering an
    ``Env`` for every read cost as much as reading a small window: each thread keeps the
    settings of its last reads entered, and changes them only when asked for others.
    """
    if getattr(_thread, "env_key", None) != env:
        previous = getattr(_thread, "env", None)
        if previous is not None:
            previous.__exit__(None, None, None)
        _thread.env = rasterio.Env(**dict(env))
        _thread.env.__enter__()
        _thread.env_key = env


def _with_source(session: str, href: str, env: tuple[tuple[str, Any], ...],
                 use: Callable[[_Source], Any]) -> Any:
    """``use`` an open handle of ``href`` (from the pool, or opened and counted)."""
    _use_gdal_config(env)
    key = (session, href)

    def open_source() -> _Source:
        with _infos_lock:
            again = key in _infos
        source = _Source(href)
        # Opening a file again reads its header from GDAL's cache: no request over HTTP.
        stats_of(session).count(**{"reopens" if again else "opens": 1})
        return source

    source: _Source = _pool.take(key, open_source)
    try:
        with _infos_lock:
            _infos.setdefault(key, source.info)
        return use(source)
    finally:
        _pool.give(key, source)


def _remote(session: str, href: str,
            env: tuple[tuple[str, Any], ...]) -> remote_cog.RemoteCog | None:
    """``href`` opened by async-tiff, or None where GDAL reads it.

    Opened once a process, as GDAL keeps a file's header for its later opens: the plan,
    the cloud-field pass and the blocks each ask for it (`REMOTE_FILES` kept).
    """
    if not remote_cog.handles(href, env):
        return None
    key = (href, env)
    with _infos_lock:
        entry = _remotes.get(key)
        opening = entry is None
        if entry is None:
            entry = _remotes[key] = Future()
            while len(_remotes) > REMOTE_FILES:
                _remotes.popitem(last=False)
        else:
            _remotes.move_to_end(key)
    if opening:
        try:
            cog = remote_cog.open_cog(href, env)
        except BaseException as exc:
            with _infos_lock:
                _remotes.pop(key, None)  # the next read tries again, as GDAL would
            entry.set_exception(exc)
            raise
        entry.set_result(cog)
        stats_of(session).count(opens=1)
    return entry.result()


def source_info(session: str, href: str, env: tuple[tuple[str, Any], ...]) -> SourceInfo:
    """The `SourceInfo` of ``href``, opening it if this session has not yet."""
    with _infos_lock:
        info = _infos.get((session, href))
    if info is not None:
        return info
    cog = _remote(session, href, env)
    if cog is not None:
        with _infos_lock:
            _infos.setdefault((session, href), cog.info)
        return cog.info
    result: SourceInfo = _with_source(session, href, env, lambda source: source.info)
    return result


def source_infos(session: str, hrefs: Iterable[str],
                 env: tuple[tuple[str, Any], ...]) -> dict[str, SourceInfo]:
    """The `SourceInfo` of every href; the ones this session has not opened, concurrently."""
    wanted = set(hrefs)
    with _infos_lock:
        known = {href: _infos[key] for href in wanted if (key := (session, href)) in _infos}

    def info(href: str) -> SourceInfo:
        _check_open(session)
        try:
            return source_info(session, href, env)
        except Exception as exc:
            raise RuntimeError(f"Error opening {href!r}: {exc!r}") from exc

    unknown = sorted(wanted - known.keys())
    futures = [_submit(session, info, href) for href in unknown]
    wait(futures)  # all of them, even after a failure: a failed plan leaves no read running
    return {**known, **{href: f.result() for href, f in zip(unknown, futures, strict=True)}}


def _decode_unit(session: str, href: str, source: _Source, info: SourceInfo,
                 unit_row: int, unit_col: int) -> npt.NDArray[Any]:
    rows, cols = info.unit
    r0, c0 = unit_row * rows, unit_col * cols
    r1, c1 = min(r0 + rows, info.shape[0]), min(c0 + cols, info.shape[1])
    out = _buffers.take((r1 - r0, c1 - c0), np.dtype(info.dtype))
    data: npt.NDArray[Any] = source.dataset.read(1, window=Window(c0, r0, c1 - c0, r1 - r0),
                                                 out=out)
    stats_of(session).decoded((href, unit_row, unit_col), _stored_bytes(source, info, r0, r1,
                                                                          c0, c1))
    return data


def _stored_bytes(source: _Source, info: SourceInfo, r0: int, r1: int, c0: int, c1: int) -> int:
    """Compressed bytes of the blocks of a window; 0 where the format does not say (VRT)."""
    block_rows, block_cols = info.block
    try:
        return sum(source.dataset.block_size(1, i, j)
                   for i in range(r0 // block_rows, -(-r1 // block_rows))
                   for j in range(c0 // block_cols, -(-c1 // block_cols)))
    except rasterio.errors.RasterBlockError:
        return 0


def _unit_bytes(info: SourceInfo) -> int:
    return info.unit[0] * info.unit[1] * np.dtype(info.dtype).itemsize


def units_of(info: SourceInfo, rows: tuple[int, int],
             cols: tuple[int, int]) -> list[tuple[int, int]]:
    """The cached units (unit row, unit column) a source window touches."""
    unit_rows, unit_cols = info.unit
    return [(ur, uc) for ur in range(rows[0] // unit_rows, -(-rows[1] // unit_rows))
            for uc in range(cols[0] // unit_cols, -(-cols[1] // unit_cols))]


def fetch(session: str, env: tuple[tuple[str, Any], ...], href: str, info: SourceInfo,
          units: Sequence[tuple[int, int]],
          rows: tuple[int, int] | None = None) -> list[Future[npt.NDArray[Any]]]:
    """Start fetching units of ``href``; cached ones, or ones being decoded, are not read again.

    The missing units are read by one job, on one open handle: an open GDAL dataset keeps
    its last compressed tile (about 1.5 MB for a 1024 px tile), so handles are few, one per
    file being read. With ``rows`` (the source rows the caller reads), tiles read back from
    the spill are read back on those rows only, and their futures are the caller's alone.
    """
    keys = [(session, href, ur, uc) for ur, uc in units]
    unit_rows = info.unit[0]
    within = None if rows is None else [
        (max(rows[0] - ur * unit_rows, 0), min(rows[1] - ur * unit_rows, unit_rows))
        for ur, _ in units]
    futures, missing = _tiles.claim(keys, within)
    if len(missing) < len(keys):
        stats_of(session).count(cache_hits=len(keys) - len(missing))
    if missing:
        claimed = [(keys[i], futures[i]) for i in missing]
        try:
            cog = _opened_remote(href, env)
            if cog is None:
                _submit(session, _decode_units, session, env, href, info, claimed)
            else:
                _submit_remote(session, cog, claimed)
        except SessionEnded as exc:
            for key, entry in claimed:
                _tiles.fill(key, entry, None, exc)
    return futures


def _opened_remote(href: str, env: tuple[tuple[str, Any], ...]) -> remote_cog.RemoteCog | None:
    """The remote file async-tiff has opened for ``href`` in this process, if any."""
    with _infos_lock:
        entry = _remotes.get((href, env))
    if entry is None or not entry.done() or entry.exception() is not None:
        return None
    return entry.result()


def _submit_remote(session: str, cog: remote_cog.RemoteCog,
                   claimed: list[tuple[Any, Future[npt.NDArray[Any]]]]) -> None:
    """Fetch and decode claimed units of a remote file on the HTTP event loop.

    No I/O thread waits for them: every file a block reads has its requests out at once
    (bounded by the readers' `AHEAD_BYTES`), where the I/O pool would let 16 out at a time.
    Tracked like the pool's jobs, so that `end_session` waits for them.
    """
    units = [(unit_row, unit_col) for (_, _, unit_row, unit_col), _ in claimed]
    with _jobs_lock:
        _check_open(session)
        job = remote_cog.submit(lambda: cog.decode_units(units))
        _jobs.setdefault(session, set()).add(job)

    def done(finished: Future[list[tuple[npt.NDArray[Any], int]]]) -> None:
        with _jobs_lock:
            _jobs.get(session, set()).discard(finished)
        try:
            decoded = finished.result()
        except BaseException as exc:
            for key, entry in claimed:
                _tiles.fill(key, entry, None, exc)
            return
        stats = stats_of(session)
        for (key, entry), (tile, stored) in zip(claimed, decoded, strict=True):
            stats.decoded(key[1:], stored)
            _tiles.fill(key, entry, tile)

    job.add_done_callback(done)


def _decode_units(session: str, env: tuple[tuple[str, Any], ...], href: str, info: SourceInfo,
                  claimed: list[tuple[Any, Future[npt.NDArray[Any]]]]) -> None:
    def decode_all(source: _Source) -> None:
        for key, entry in claimed:
            _check_open(session)
            _, _, unit_row, unit_col = key
            tile = _decode_unit(session, href, source, info, unit_row, unit_col)
            _tiles.fill(key, entry, tile)
        if _tiles.spill is not None and not _pool.keeps((session, href), source):
            _decode_ahead(session, href, source, info)

    try:
        cog = _remote(session, href, env)  # a remote file is opened here, on an I/O thread
        if cog is None:
            _with_source(session, href, env, decode_all)
        else:
            _submit_remote(session, cog, claimed)
    except BaseException as exc:
        for key, entry in claimed:
            if not entry.done():
                _tiles.fill(key, entry, None, exc)


def _decode_ahead(session: str, href: str, source: _Source, info: SourceInfo) -> None:
    """Decode the file's other announced units now, as its handle is about to be closed.

    An annual order reads each file's tiles at different times (one tile position after
    another), and its files are more than the pool keeps open: each later tile would open
    the file again, 0.5 ms with the GIL held (2,300 reopens, 2 s of a 10 s build). Decoded
    now, a tile waits in the cache or the spill for its reads.
    """
    with _infos_lock:
        units = sorted(_announced.get((session, href), ()))
    keys = _tiles.unread([(session, href, ur, uc) for ur, uc in units])
    futures, missing = _tiles.claim(keys)
    for done, i in enumerate(missing):
        try:
            _check_open(session)
            tile = _decode_unit(session, href, source, info, keys[i][2], keys[i][3])
        except Exception as exc:
            # Nobody waits for these: unclaimed, they are read when their blocks ask.
            for j in missing[done:]:
                _tiles.fill(keys[j], futures[j], None, exc)
            return
        _tiles.fill(keys[i], futures[i], tile, ahead=True)


def release(session: str, href: str, units: Iterable[tuple[int, int]]) -> None:
    """An announced read of these units is done (`expect_reads`)."""
    for ur, uc in units:
        _tiles.release((session, href, ur, uc))


def expect_reads(session: str, counts: Mapping[tuple[str, int, int], int]) -> None:
    """Announce the reads of a load: units (href, unit row, unit column) and how many times."""
    _tiles.expect({(session, *key): n for key, n in counts.items()})
    with _infos_lock:
        for href, unit_row, unit_col in counts:
            _announced.setdefault((session, href), set()).add((unit_row, unit_col))


def assemble(tiles: Sequence[npt.NDArray[Any]], units: Sequence[tuple[int, int]],
             info: SourceInfo, rows: tuple[int, int], cols: tuple[int, int],
             out: npt.NDArray[Any]) -> None:
    """Fill ``out`` with the source window ``rows`` x ``cols`` from its decoded ``units``."""
    unit_rows, unit_cols = info.unit
    for tile, (ur, uc) in zip(tiles, units, strict=True):
        top, left = ur * unit_rows, uc * unit_cols
        r0, r1 = max(rows[0], top), min(rows[1], top + tile.shape[0])
        c0, c1 = max(cols[0], left), min(cols[1], left + tile.shape[1])
        out[r0 - rows[0]:r1 - rows[0], c0 - cols[0]:c1 - cols[0]] = \
            tile[r0 - top:r1 - top, c0 - left:c1 - left]


def lattice_plan(info: SourceInfo, grid: Grid,
                 window: tuple[int, int, int, int]) -> WindowPlan | None:
    """How output ``window`` maps onto the source, or None when it must be warped."""
    if info.epsg != grid.epsg:
        return None
    return plan_window(info.transform, info.shape, grid.transform, window)


def place(target: npt.NDArray[Any], tiles: Sequence[npt.NDArray[Any]],
          units: Sequence[tuple[int, int]], where: tuple[tuple[int, int], tuple[int, int]] | None,
          plan: WindowPlan, info: SourceInfo, resampling: str, fill_value: int) -> None:
    """Put the source window ``where``, from its decoded units, onto output ``target``."""
    (o0, o1), (p0, p1) = plan.out_rows, plan.out_cols
    if (o0, p0, o1, p1) != (0, 0, *target.shape):
        target.fill(fill_value)  # the raster does not cover the whole window
    if where is None:
        return
    if plan.up == plan.down == 1:  # on the output's own lattice: straight into the block
        assemble(tiles, units, info, *where, out=target[o0:o1, p0:p1])
        return
    data = np.empty((where[0][1] - where[0][0], where[1][1] - where[1][0]), dtype=target.dtype)
    assemble(tiles, units, info, *where, out=data)
    resample_into(data, plan, resampling, info.nodata, target[o0:o1, p0:p1])


def source_window(plan: WindowPlan) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """The source rows and columns a plan reads, None when it reads nothing."""
    (r0, r1), (c0, c1) = plan.rows, plan.cols
    if r1 <= r0 or c1 <= c0:
        return None
    return (r0, r1), (c0, c1)


@functools.cache
def _dn_reader() -> type:
    """The warping reader of stackstac, reading DN without a mask.

    stackstac reads ``masked=True`` and fills the mask afterwards; for a band with a nodata
    value GDAL derives that mask by decoding the band a second time. Sentinel-2 DN carry
    their nodata (0, or -10000 for MAJA) in the values and our fill value is that nodata,
    so the mask is redundant: skipping it halves the decoding. Made on first use: stackstac
    imports xarray and pandas, half a second of every ``l3a build`` that never warps.
    """
    from stackstac.rio_reader import AutoParallelRioReader

    class DNReader(AutoParallelRioReader):  # type: ignore[misc]  # stackstac is untyped
        def read(self, window: Window, **kwargs: Any) -> npt.NDArray[Any]:
            data = self.dataset.read(window=window, indexes=1, out_dtype=self.dtype,
                                     masked=False)
            result: npt.NDArray[Any] = np.asarray(data)
            return result

    return DNReader


def warp_into(target: npt.NDArray[Any], session: str, href: str, grid: Grid,
              window: tuple[int, int, int, int], resampling: str, fill_value: int,
              env: tuple[tuple[str, Any], ...]) -> None:
    """Read output ``window`` of a raster in another CRS through GDAL's warper."""
    _use_gdal_config(env)
    # A warping reader is made for one output type, resampling and fill value.
    key = (session, f"warp:{target.dtype.str}:{resampling}:{fill_value}:{href}")
    import stackstac
    from stackstac.raster_spec import RasterSpec

    reader = _pool.take(key, lambda: _dn_reader()(
        url=href, spec=RasterSpec(grid.epsg, grid.bounds, (grid.resolution,) * 2),
        resampling=rasterio.enums.Resampling[resampling], dtype=target.dtype,
        fill_value=target.dtype.type(fill_value), scale_offset=(1, 0),
        gdal_env=stackstac.DEFAULT_GDAL_ENV.updated(always=dict(env))))
    try:
        row, col, height, width = window
        target[...] = reader.read(Window(col, row, width, height))
        stats_of(session).count(warped=1)
    finally:
        _pool.give(key, reader)


@dataclass(frozen=True)
class TiledReader:
    """The `BlockReader` of l3a: lattice reads from cached tiles, warped reads otherwise."""

    session: str
    grid: Grid
    env: tuple[tuple[str, Any], ...]
    resampling: str
    fill_value: int

    def read_block(self, out: npt.NDArray[Any], hrefs: tuple[tuple[str | None, ...], ...],
                   window: tuple[int, int, int, int]) -> None:
        """Fill ``out`` (T, A, rows, cols), the tiles of the block fetched concurrently.

        Reads are started ahead of the one being placed, up to `AHEAD_BYTES` of tiles: all
        of them at once would hold every tile the block touches (four 1024 px tiles of 132
        inputs are 1 GB), one at a time would pay each request's latency in turn.
        """
        reads = [(t, a, href) for t, row in enumerate(hrefs) for a, href in enumerate(row)]
        infos = self._infos({href for _, _, href in reads if href is not None})
        lattice: list[tuple[int, int, str, WindowPlan, Any, list[tuple[int, int]]]] = []
        for t, a, href in reads:
            if href is None:
                out[t, a] = self.fill_value
                continue
            plan = lattice_plan(infos[href], self.grid, window)
            if plan is None:
                self._warp(out[t, a], href, window)
                continue
            where = source_window(plan)
            units = [] if where is None else units_of(infos[href], *where)
            lattice.append((t, a, href, plan, where, units))
        started: deque[list[Future[npt.NDArray[Any]]]] = deque()
        ahead = 0
        for done, (t, a, href, plan, where, units) in enumerate(lattice):
            while len(started) < len(lattice) - done and (not started or ahead < AHEAD_BYTES):
                _, _, next_href, _, next_where, next_units = lattice[done + len(started)]
                info = infos[next_href]
                started.append(fetch(self.session, self.env, next_href, info, next_units,
                                     None if next_where is None else next_where[0]))
                ahead += len(next_units) * _unit_bytes(info)
            futures = started.popleft()
            ahead -= len(units) * _unit_bytes(infos[href])
            try:
                tiles = [f.result() for f in futures]
            except Exception as exc:
                raise RuntimeError(f"Error reading window {window} of the output grid "
                                   f"from {href!r}: {exc!r}") from exc
            finally:
                # A no-op for tiles nobody announced (`TileCache.release`).
                release(self.session, href, units)
            place(out[t, a], tiles, units, where, plan, infos[href], self.resampling,
                  self.fill_value)
            for tile in tiles:
                _buffers.give(tile)  # decoded into again once nobody holds it

    def prefetch(self, hrefs: tuple[tuple[str | None, ...], ...],
                 window: tuple[int, int, int, int], budget: int | None = None) -> None:
        """Start fetching the remote tiles ``read_block`` will read on ``window``; no wait.

        They land in the tile cache, where the block's read finds them. Announced tiles
        (`expect_reads`) stay there until that read. Only remote files: their requests wait
        on the network while the cores reduce, where a local file's decoding would take the
        cores from the reduction and hold a block of tiles more in memory (measured on Earth
        Search's layout: local builds no faster, 50-80 MB more at the peak). Warped reads
        are not fetched ahead. With a ``budget``, files are started until their tiles reach
        that many bytes.
        """
        wanted = {href for row in hrefs for href in row
                  if href is not None and urlsplit(href).scheme in REMOTE_SCHEMES}
        infos = self._infos(wanted)
        started = 0
        for href in sorted(wanted):
            plan = lattice_plan(infos[href], self.grid, window)
            where = source_window(plan) if plan is not None else None
            if where is None:
                continue
            units = units_of(infos[href], *where)
            started += len(units) * _unit_bytes(infos[href])
            if budget is not None and started > budget:
                return
            fetch(self.session, self.env, href, infos[href], units)

    def _warp(self, target: npt.NDArray[Any], href: str,
              window: tuple[int, int, int, int]) -> None:
        try:
            warp_into(target, self.session, href, self.grid, window, self.resampling,
                      self.fill_value, self.env)
        except Exception as exc:
            raise RuntimeError(f"Error reading window {window} of the output grid "
                               f"from {href!r}: {exc!r}") from exc

    def _infos(self, hrefs: set[str]) -> dict[str, SourceInfo]:
        return source_infos(self.session, hrefs, self.env)
