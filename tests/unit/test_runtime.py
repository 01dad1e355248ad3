import gc
import weakref

import pytest

from gateway.runtime import GC_THRESHOLDS, tune_gc


@pytest.fixture
def restore_gc():
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_tune_gc_freezes_start_up_objects_and_raises_thresholds(restore_gc):
    built_at_start_up = [object() for _ in range(10)]
    tune_gc()
    assert gc.get_threshold() == GC_THRESHOLDS
    assert gc.get_freeze_count() >= len(built_at_start_up)


def test_cycles_made_after_tuning_are_still_collected(restore_gc):
    tune_gc((100, 10, 10))

    class Node:
        pass

    collected = []
    for _ in range(5):
        a, b = Node(), Node()
        a.other, b.other = b, a

        collected.append(weakref.ref(a))
        del a, b
    gc.collect()
    assert all(ref() is None for ref in collected)
