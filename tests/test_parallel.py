import os

import pytest

from synoploss.parallel import map_jobs


def square_plus_shared(shared, value):
    return value * value + shared["offset"], os.getpid()


@pytest.mark.parametrize("workers", [1, 2])
def test_results_in_order_and_shared_data_passed(workers):
    shared = {"offset": 7}  # given to each worker once, when it starts
    results = list(map_jobs(square_plus_shared, list(range(6)), workers, shared=shared,
                            progress=False))
    assert [value for value, _ in results] == [7, 8, 11, 16, 23, 32]
    pids = {pid for _, pid in results}
    assert (pids == {os.getpid()}) if workers == 1 else (os.getpid() not in pids)
