"""One estimate split into blocks or passes, counted here or as tasks on an executor
(threads, processes, a Dask cluster), gives the single-process value bit for bit."""

import concurrent.futures as cf
import json
import multiprocessing
import threading
import time

import numpy as np
import pytest

import fastei
from fastei._sampling import results_in_order, sample_blocks, waiting_results

# 10 inputs at 8 bins: 6 outputs are counted in a dense array, 12 in a hash table
DENSE = np.random.default_rng(31).uniform(-2, 2, size=(6, 10))
HASHED = np.random.default_rng(32).uniform(-2, 2, size=(12, 10))
SAMPLES = 60_000


def _values(weights, **options):
    """EI, EI_parts and sensitivity of one layer, and the passes of its joint count."""
    m = fastei.measure(weights, samples=SAMPLES, sensitivity_samples=700, **options)
    return (m.ei, m.ei_parts, m.sensitivity), m.passes


@pytest.fixture(scope="module")
def single_process():
    return {name: _values(weights)[0] for name, weights in
            (("dense", DENSE), ("hashed", HASHED))}


@pytest.mark.parametrize("name, weights", [("dense", DENSE), ("hashed", HASHED)])
@pytest.mark.parametrize("blocks", [1, 2, 3])
def test_any_number_of_blocks_gives_the_same_bits(single_process, name, weights, blocks):
    values, passes = _values(weights, blocks=blocks)
    assert passes == blocks
    assert values == single_process[name]


def test_threads_and_processes_give_the_same_bits(single_process):
    with cf.ThreadPoolExecutor(3) as threads:
        assert _values(HASHED, blocks=3, executor=threads)[0] == single_process["hashed"]
    # spawned processes: the plan travels by pickle, every built-in activation with it
    network = fastei.Network([fastei.Dense(DENSE.T, None, "tanh"),
                              fastei.Dense(HASHED * 3, np.ones(12), "relu")])
    options = dict(span=(0, 1), in_range=(0, 1), out_range=(0, 2), blocks=2)
    with cf.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as spawned:
        assert _values(DENSE, blocks=2, executor=spawned)[0] == single_process["dense"]
        assert _values(network, executor=spawned, **options) == _values(network, **options)


def test_a_forking_process_pool_is_refused_with_the_fix():
    with cf.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as forked:
        with pytest.raises(ValueError, match=r"^executor is a ProcessPoolExecutor that forks.*"
                           r"mp_context=multiprocessing.get_context\('spawn'\) to it$"):
            fastei.ei(DENSE, samples=100, executor=forked)


def test_a_dask_cluster_gives_the_single_process_value_bit_for_bit(single_process):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        executor = client.get_executor()
        for blocks in (1, 2, 3):
            assert _values(DENSE, blocks=blocks, executor=executor)[0] == \
                single_process["dense"]
        assert _values(HASHED, blocks=3, executor=executor)[0] == single_process["hashed"]
        # a worker whose tables outgrow the budget sends the count back for more passes
        tight = np.random.default_rng(4).uniform(-4, 4, size=(12, 4))
        options = dict(samples=100_000, in_bins=4, max_memory=5 * 10**6)
        assert fastei.ei(tight, executor=executor, **options) == fastei.ei(tight, **options)
        # pairwise counts go in fixed blocks of samples, not one per worker
        assert fastei.ei_parts(DENSE, samples=SAMPLES, executor=executor) == \
            fastei.ei_parts(DENSE, samples=SAMPLES)


def test_the_executor_is_left_out_of_the_settings():
    with cf.ThreadPoolExecutor(2) as threads:
        m = fastei.measure(DENSE, samples=2000, sensitivity_samples=50, blocks=2,
                           executor=threads)
    assert "executor" not in m.settings and m.settings["blocks"] == 2
    json.dumps(m.to_dict())


def test_a_failing_block_is_raised_and_the_waiting_ones_cancelled():
    started = []

    def count(block):
        started.append(block)
        if block == 1:
            raise ValueError("block 1 failed")
        time.sleep(0.02)
        return block

    with cf.ThreadPoolExecutor(1) as one_thread:
        with pytest.raises(ValueError, match="block 1 failed"):
            list(results_in_order(count, range(50), one_thread))
    assert len(started) < 50


def test_no_more_results_wait_than_the_window_holds():
    waiting, most = set(), [0]
    lock = threading.Lock()

    def count(block):
        with lock:
            waiting.add(block)
            most[0] = max(most[0], len(waiting))
        return block

    with cf.ThreadPoolExecutor(4) as threads:
        for block in results_in_order(count, range(40), threads, window=3):
            with lock:
                waiting.discard(block)
    assert most[0] <= 3
    assert waiting_results(10**6, 10**5) == 5 and waiting_results(None, 10**5) is None


def test_sample_blocks_cover_every_row_once():
    blocks = sample_blocks(10, 3)
    assert [list(b) for b in blocks] == [[0, 1, 2], [3, 4, 5], [6, 7, 8, 9]]
    assert sum(len(b) for b in sample_blocks(7, 9)) == 7
