"""Group commit: items share transactions while others are in flight; failures stay isolated."""

from twisted.internet import defer

from gateway.surveys.batching import GroupCommit


class FakeDb:
    """``run`` returns a Deferred the test fires; records what each transaction carried."""

    def __init__(self):
        self.calls = []

    def run(self, fn, items):
        d = defer.Deferred()
        self.calls.append((list(items), d, fn))
        return d

    def finish(self, index=0):
        items, d, fn = self.calls[index]
        try:
            d.callback(fn(None, items))
        except Exception:
            d.errback()


def doubled(session, items):
    if "bad" in items:
        raise ValueError("bad item")
    return [i * 2 for i in items]


def test_single_item_goes_at_once():
    db = FakeDb()
    group = GroupCommit(db, doubled, max_concurrent=1)
    d = group.submit(1)
    assert [c[0] for c in db.calls] == [[1]]
    db.finish()
    assert d.result == 2


def test_items_arriving_while_busy_share_the_next_transaction():
    db = FakeDb()
    group = GroupCommit(db, doubled, max_concurrent=1)
    ds = [group.submit(i) for i in range(1, 6)]
    assert [c[0] for c in db.calls] == [[1]]
    db.finish(0)
    assert [c[0] for c in db.calls] == [[1], [2, 3, 4, 5]]
    db.finish(1)
    assert [d.result for d in ds] == [2, 4, 6, 8, 10]
    assert group.transactions == 2


def test_batches_are_capped():
    db = FakeDb()
    group = GroupCommit(db, doubled, max_batch=2, max_concurrent=1)
    for i in range(5):
        group.submit(i)
    db.finish(0)
    assert [c[0] for c in db.calls][1] == [1, 2]


def test_failed_batch_is_retried_item_by_item_and_only_the_bad_one_fails():
    db = FakeDb()
    group = GroupCommit(db, doubled, max_concurrent=1)
    first = group.submit(1)
    good, bad = group.submit(2), group.submit("bad")
    db.finish(0)
    db.finish(1)  # [2, "bad"] fails as a whole
    db.finish(2)
    db.finish(3)
    assert first.result == 2
    assert good.result == 4
    failures = []
    bad.addErrback(failures.append)
    assert failures[0].check(ValueError)
    assert not group.busy
