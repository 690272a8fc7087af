"""Property tests of client-go's queue contract over random add/get/done interleavings."""
import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from tiphys.controller.workqueue import WorkQueue

KEYS = st.sampled_from("abcde")
OPS = st.lists(st.one_of(st.tuples(st.just("add"), KEYS), st.tuples(st.just("get"), st.none()),
                         st.tuples(st.just("done"), st.integers(0, 4))), max_size=60)


@settings(max_examples=300, deadline=None)
@given(OPS)
def test_stingy_fair_and_lossless(ops):
    """Never two holders of one key; FIFO among waiting keys; every add is followed by a get."""
    q: WorkQueue[str] = WorkQueue()
    held: list[str] = []  # keys handed out and not yet done
    pending_since: dict[str, int] = {}  # key -> step of the first add not yet answered by a get
    expected_order: list[str] = []  # keys in the order they became ready (model of the FIFO)
    for step, (op, arg) in enumerate(ops):
        if op == "add":
            if arg not in pending_since:
                pending_since[arg] = step
                if arg not in held:
                    expected_order.append(arg)
            q.add(arg)
        elif op == "get":
            try:
                key = q.get_nowait()
            except asyncio.QueueEmpty:
                assert not expected_order
                continue
            assert key == expected_order.pop(0)  # fair: first ready, first out
            assert key not in held  # stingy: never processed twice at once
            held.append(key)
            pending_since.pop(key)
        elif held:
            key = held.pop(arg % len(held))
            q.done(key)
            if key in pending_since:  # dirtied while held: ready again now
                expected_order.append(key)
        assert len(q) == len(expected_order)
    for key in held:
        q.done(key)
    drained = []
    while len(q):
        key = q.get_nowait()
        drained.append(key)
        q.done(key)
    assert sorted(drained) == sorted(pending_since)  # lossless: each unanswered add gets one get
