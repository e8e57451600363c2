import os

import pytest

from synoploss.parallel import map_jobs

SHARED = {}


def square_plus_shared(value):
    return value * value + SHARED["offset"], os.getpid()


@pytest.mark.parametrize("workers", [1, 2])
def test_results_in_order_and_globals_shared(workers):
    SHARED["offset"] = 7  # set before the fork: workers see it without pickling
    results = list(map_jobs(square_plus_shared, list(range(6)), workers))
    assert [value for value, _ in results] == [7, 8, 11, 16, 23, 32]
    pids = {pid for _, pid in results}
    assert (pids == {os.getpid()}) if workers == 1 else (os.getpid() not in pids)
