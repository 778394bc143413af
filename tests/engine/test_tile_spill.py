"""The tile cache's scratch file: slots written and read back, reused, bounded, given back."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from engine.readers import TileCache
from engine.tile_spill import TileSpill


def tile(value: int, side: int = 4) -> np.ndarray:
    return np.full((side, side), value, dtype=np.uint16)  # 32 bytes


def test_a_tile_reads_back_as_written(tmp_path: Path) -> None:
    spill = TileSpill(str(tmp_path), limit=1024)
    data = np.arange(12 * 7, dtype=np.int16).reshape(12, 7) - 40
    offset = spill.reserve(data.nbytes)
    assert offset is not None
    spill.write(offset, data)
    back = spill.read(offset, data.shape, data.dtype)
    assert back.dtype == data.dtype and np.array_equal(back, data)
    # The file is anonymous: nothing is left in the directory, even while it is in use.
    assert list(tmp_path.iterdir()) == []


def test_slots_are_reused_bounded_and_given_back(tmp_path: Path) -> None:
    spill = TileSpill(str(tmp_path), limit=96)
    a, b, c = (spill.reserve(32) for _ in range(3))
    assert (a, b, c) == (0, 32, 64) and spill.used == 96
    assert spill.reserve(32) is None  # over the limit
    spill.free(32, 32)
    assert spill.reserve(32) == 32  # the freed slot, not a new one at the end
    for offset in (0, 32, 64):
        spill.free(offset, 32)
    assert spill.used == 0
    assert spill.reserve(32) == 0  # emptied: the file starts again from nothing


def test_the_cache_spills_announced_tiles_it_cannot_hold_and_serves_them(
        tmp_path: Path) -> None:
    counted: list[tuple[str, str]] = []
    spill = TileSpill(str(tmp_path), limit=1024)
    cache = TileCache(budget=64, spill=spill,  # two tiles in memory
                      counted=lambda key, name: counted.append((key, name)))
    cache.expect({"a": 2, "b": 2, "c": 2})
    for key, value in (("a", 1), ("b", 2), ("c", 3)):
        futures, missing = cache.claim([key])
        assert missing == [0]
        cache.fill(key, futures[0], tile(value))
        assert futures[0].result()[0, 0] == value  # its first reader gets it at once
    assert cache.used == 64 and cache.spilled == 1 and spill.used == 32
    assert counted == [("c", "spilled")]
    futures, missing = cache.claim(["a", "b", "c"])
    assert missing == []  # nothing decoded again
    assert [f.result()[0, 0] for f in futures] == [1, 2, 3]
    assert counted[-1] == ("c", "unspilled")
    for key in ("a", "b", "c"):
        cache.release(key)
        cache.release(key)
    assert cache.used == 0 and cache.spilled == 0 and spill.used == 0


def test_a_tile_nobody_reads_again_is_not_spilled(tmp_path: Path) -> None:
    spill = TileSpill(str(tmp_path), limit=1024)
    cache = TileCache(budget=32, spill=spill)
    cache.expect({"a": 1, "y": 1})
    # y: its one announced read is the one it is decoded for; x: nobody announced it.
    for key in ("a", "y", "x"):
        futures, _ = cache.claim([key])
        cache.fill(key, futures[0], tile(1))
    assert cache.spilled == 0 and spill.used == 0
    assert cache.claim(["x", "y"])[1] == [0, 1]


def test_a_full_spill_falls_back_to_decoding_again(tmp_path: Path) -> None:
    spill = TileSpill(str(tmp_path), limit=32)
    cache = TileCache(budget=32, spill=spill)
    cache.expect({"a": 2, "b": 2, "c": 2})
    for key in ("a", "b", "c"):
        futures, _ = cache.claim([key])
        cache.fill(key, futures[0], tile(1))
    assert cache.used == 32 and cache.spilled == 1  # a in memory, b on disk, c dropped
    assert cache.claim(["a", "b", "c"])[1] == [2]


def test_dropping_a_session_frees_its_spilled_tiles(tmp_path: Path) -> None:
    spill = TileSpill(str(tmp_path), limit=1024)
    cache = TileCache(budget=32, spill=spill)
    cache.expect({("s", 1): 2, ("s", 2): 2, ("t", 1): 2})
    for key in (("s", 1), ("s", 2), ("t", 1)):
        futures, _ = cache.claim([key])
        cache.fill(key, futures[0], tile(1))
    assert cache.spilled == 2
    cache.drop(lambda key: key[0] == "s")
    assert cache.spilled == 1 and spill.used == 32


class SlowSpill(TileSpill):
    """A spill whose reads wait for a signal, to release a tile while it is read."""

    def __init__(self, directory: str) -> None:
        super().__init__(directory, limit=1024)
        self.reading, self.go = threading.Event(), threading.Event()

    def read(self, offset: int, shape: tuple[int, ...], dtype: np.dtype,
             out: np.ndarray | None = None) -> np.ndarray:
        self.reading.set()
        assert self.go.wait(5)
        return super().read(offset, shape, dtype, out)


def test_a_slot_being_read_is_not_reused_until_the_read_ends(tmp_path: Path) -> None:
    spill = SlowSpill(str(tmp_path))
    cache = TileCache(budget=0, spill=spill)  # every tile read again goes to disk
    cache.expect({"a": 2})
    futures, _ = cache.claim(["a"])
    cache.fill("a", futures[0], tile(7))
    cache.release("a")
    assert cache.spilled == 1
    got: list[int] = []
    # A reader nobody announced finds "a" on disk and reads it, slowly.
    reader = threading.Thread(target=lambda: got.append(cache.claim(["a"])[0][0].result()[0, 0]))
    reader.start()
    assert spill.reading.wait(5)
    cache.release("a")  # the last announced read: the slot would be free now
    cache.expect({"b": 2})
    futures, _ = cache.claim(["b"])
    cache.fill("b", futures[0], tile(9))  # needs a slot of the same size
    spill.go.set()
    reader.join(5)
    assert got == [7]  # not b's 9: its slot was not handed out under the reader
    assert spill.used == 32  # b only; a's slot was given back after the read
    cache.release("b")
    cache.release("b")
    assert spill.used == 0


def test_a_spill_of_no_bytes_keeps_nothing(tmp_path: Path) -> None:
    assert TileSpill(str(tmp_path), limit=0).reserve(1) is None


def test_a_tile_decoded_ahead_of_its_one_read_waits_in_the_spill(tmp_path: Path) -> None:
    # `readers._decode_ahead`: a file about to be closed has its other tiles decoded now.
    # With one read announced and no reader yet, a tile that does not fit the memory must
    # still be kept, where a reader's own tile with no read left need not be.
    spill = TileSpill(str(tmp_path), limit=1024)
    cache = TileCache(budget=32, spill=spill)
    cache.expect({"held": 1, "a": 1, "b": 1})
    futures, _ = cache.claim(["held"])
    cache.fill("held", futures[0], tile(9))  # fills the memory
    assert cache.unread(["held", "a", "b", "c"]) == ["a", "b"]  # c: nothing announced
    futures, missing = cache.claim(["a", "b"])
    assert missing == [0, 1]
    cache.fill("a", futures[0], tile(1), ahead=True)
    cache.fill("b", futures[1], tile(2))  # as a reader's: its one read is being served
    assert cache.spilled == 1 and cache.unread(["a", "b"]) == ["b"]
    futures, missing = cache.claim(["a"])
    assert missing == [] and futures[0].result()[0, 0] == 1


class CountingSpill(TileSpill):
    """A spill that records the rows of each read."""

    def __init__(self, directory: str) -> None:
        super().__init__(directory, limit=4096)
        self.rows_read: list[int] = []

    def read(self, offset: int, shape: tuple[int, ...], dtype: np.dtype,
             out: np.ndarray | None = None) -> np.ndarray:
        self.rows_read.append(shape[0])
        return super().read(offset, shape, dtype, out)


def test_a_tile_read_back_on_some_rows_reads_only_those(tmp_path: Path) -> None:
    spill = CountingSpill(str(tmp_path))
    cache = TileCache(budget=0, spill=spill)  # every tile read again goes to disk
    cache.expect({"a": 3})
    futures, _ = cache.claim(["a"])
    data = np.arange(8 * 6, dtype=np.uint16).reshape(8, 6)
    cache.fill("a", futures[0], data)
    assert cache.spilled == 1
    # Rows 2 to 5 of the tile: those are the stored ones, the others are not read.
    (back,), missing = cache.claim(["a"], rows=[(2, 5)])
    assert missing == [] and spill.rows_read == [3]  # one read of 3 rows
    assert np.array_equal(back.result()[2:5], data[2:5])
    (whole,), _ = cache.claim(["a"])
    assert spill.rows_read == [3, 8] and np.array_equal(whole.result(), data)
