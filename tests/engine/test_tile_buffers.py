"""Used tiles' arrays, decoded into again once nobody holds them (`engine.tile_buffers`)."""

from __future__ import annotations

import threading
from concurrent.futures import Future

import numpy as np

from engine.readers import TileCache
from engine.tile_buffers import TileBuffers

U2 = np.dtype("uint16")


def test_an_array_nobody_holds_is_handed_out_again() -> None:
    buffers = TileBuffers(limit=4)
    tile = np.full((8, 8), 3, U2)
    identity = id(tile)
    buffers.give(tile)
    del tile
    again = buffers.take((8, 8), U2)
    assert id(again) == identity
    assert (buffers.reused, buffers.allocated) == (1, 0)
    # Handed out, it is no longer the pool's: the next take allocates.
    assert buffers.take((8, 8), U2) is not again
    assert buffers.allocated == 1


def test_an_array_still_held_or_viewed_is_not_handed_out() -> None:
    buffers = TileBuffers(limit=4)
    tile = np.zeros((8, 8), U2)
    buffers.give(tile)
    assert buffers.take((8, 8), U2) is not tile  # its giver still holds it
    view = tile[2:4]
    identity = id(tile)
    del tile
    assert id(buffers.take((8, 8), U2)) != identity  # a view pins it
    del view
    assert id(buffers.take((8, 8), U2)) == identity


def test_kinds_are_kept_apart_and_each_is_bounded() -> None:
    buffers = TileBuffers(limit=2)
    small, scl = np.zeros((4, 8), U2), np.zeros((8, 8), np.uint8)
    small_id, scl_id = id(small), id(scl)
    buffers.give(small)
    buffers.give(scl)
    del small, scl
    # Neither another shape nor another dtype is handed out for (8, 8) uint16.
    assert id(buffers.take((8, 8), U2)) not in {small_id, scl_id}
    assert id(buffers.take((8, 8), np.dtype(np.uint8))) == scl_id
    # Three of one kind with a limit of two: the oldest is let go, the others stay.
    arrays = [np.zeros((8, 8), U2) for _ in range(3)]
    ids = [id(a) for a in arrays]
    for array in arrays:
        buffers.give(array)
    del arrays, array
    taken = [buffers.take((8, 8), U2) for _ in range(3)]
    assert [id(t) for t in taken[:2]] == ids[1:]
    assert buffers.reused == 3


def test_arrays_that_do_not_own_their_memory_are_not_kept() -> None:
    buffers = TileBuffers(limit=4)
    base = np.zeros((8, 16), U2)
    buffers.give(base[:, :8])  # a view: keeping it would keep its base
    buffers.give(np.asfortranarray(np.zeros((8, 8), U2)))  # its own, but column-major
    frozen = np.zeros((8, 8), U2)
    frozen.flags.writeable = False
    buffers.give(frozen)
    assert buffers.take((8, 8), U2) is not frozen
    assert buffers.reused == 0


def test_the_cache_gives_a_tile_it_lets_go() -> None:
    buffers = TileBuffers(limit=4)
    cache = TileCache(budget=1 << 20, buffers=buffers)
    cache.expect({"a": 1})
    futures, missing = cache.claim(["a"])
    assert missing == [0]
    tile = np.ones((8, 8), U2)
    identity = id(tile)
    cache.fill("a", futures[0], tile)
    del tile, futures
    assert id(buffers.take((8, 8), U2)) != identity  # still cached: an announced read left
    cache.release("a")
    assert cache.used == 0
    assert id(buffers.take((8, 8), U2)) == identity


def test_no_array_is_handed_to_two_holders_at_once() -> None:
    """Threads take, stamp, check and give back arrays: a shared one would show another
    thread's stamp."""
    buffers = TileBuffers(limit=3)
    clashes: list[int] = []
    start = threading.Barrier(4)

    def work(stamp: int) -> None:
        start.wait()
        for _ in range(2000):
            array = buffers.take((16, 16), U2)
            array.fill(stamp)
            if not (array == stamp).all():
                clashes.append(stamp)
            buffers.give(array)
            del array

    threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not clashes
    assert buffers.reused > 0


def test_a_future_holding_a_tile_keeps_it_from_being_handed_out() -> None:
    buffers = TileBuffers(limit=4)
    tile = np.zeros((8, 8), U2)
    identity = id(tile)
    done: Future[np.ndarray] = Future()
    done.set_result(tile)
    buffers.give(tile)
    del tile
    assert id(buffers.take((8, 8), U2)) != identity
    del done
    assert id(buffers.take((8, 8), U2)) == identity
