import math
from dataclasses import asdict

import numpy as np
import pytest
import torch

from quanta.errors import QuantaError
from quanta.parity.data import ParityTasks, derive_seed, draw_subsets
from quanta.theory import zipf_probs
from quanta.parity.train import DataStream, ParityConfig


def test_zipf_probs_follow_the_papers_alpha():
    p = zipf_probs(0.4, 50)
    assert p.shape == (50,) and math.isclose(p.sum(), 1.0, rel_tol=1e-12)
    # the paper's alpha: p_i ∝ i^-(alpha+1), i.e. the reference code's alpha=1.4
    assert math.isclose(p[0] / p[9], 10 ** 1.4, rel_tol=1e-12)
    assert math.isclose(p[3] / p[7], 2 ** 1.4, rel_tol=1e-12)


def test_derive_seed_is_stable_and_distinguishes_parts():
    assert derive_seed(1, 0.4, "x") == derive_seed(1, 0.4, "x")
    assert len({derive_seed(1, 0.4, "x"), derive_seed(2, 0.4, "x"), derive_seed(1, 0.5, "x"),
                derive_seed(1, 0.4, "y")}) == 4
    assert 0 <= derive_seed(123456789012345, -3.5) < 2 ** 63


def test_subsets_are_distinct_sorted_and_seeded():
    s = draw_subsets(40, 12, 3, seed=5)
    assert s.shape == (40, 3) and s.min() >= 0 and s.max() < 12
    assert len({tuple(r) for r in s.tolist()}) == 40
    assert all(list(r) == sorted(r) and len(set(r)) == 3 for r in s.tolist())
    assert np.array_equal(s, draw_subsets(40, 12, 3, seed=5))
    assert not np.array_equal(s, draw_subsets(40, 12, 3, seed=6))


def test_subsets_dense_regime_uses_every_subset():
    s = draw_subsets(math.comb(7, 3), 7, 3, seed=0)
    assert len({tuple(r) for r in s.tolist()}) == 35


@pytest.mark.parametrize("n_tasks,n,k,word", [(5, 3, 4, "k must be <= n"), (36, 7, 3, "35 distinct"),
                                              (0, 7, 3, "n_tasks"), (5, 7, 0, "k must")])
def test_impossible_task_shapes_raise(n_tasks, n, k, word):
    with pytest.raises(QuantaError, match=word):
        draw_subsets(n_tasks, n, k, seed=0)


def test_labels_are_the_parity_of_the_tasks_bits():
    tasks = ParityTasks(draw_subsets(20, 9, 3, seed=1), 9, 0.4)
    g = torch.Generator().manual_seed(0)
    task, bits, y = tasks.sample_raw(3000, generator=g)
    assert task.dtype == torch.int64 and bits.dtype == torch.uint8 and bits.shape == (3000, 9)
    ref = np.array([int(bits[i, tasks.subsets_np[t]].sum()) % 2 for i, t in enumerate(task.tolist())])
    assert np.array_equal(y.numpy(), ref)
    assert abs(bits.float().mean().item() - 0.5) < 0.02
    assert abs(y.float().mean().item() - 0.5) < 0.05


def test_task_frequencies_match_zipf():
    tasks = ParityTasks(draw_subsets(30, 10, 3, seed=2), 10, 0.4)
    g = torch.Generator().manual_seed(1)
    n = 200_000
    counts = np.bincount(tasks.sample_tasks(n, generator=g).numpy(), minlength=30)
    expected = n * tasks.probs_np
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 70  # 29 degrees of freedom: p < 1e-4 under the null
    # and a wrong alpha is clearly rejected by the same statistic
    wrong = n * zipf_probs(0.6, 30)
    assert ((counts - wrong) ** 2 / wrong).sum() > 500


def test_sample_given_tasks_and_full_inputs():
    tasks = ParityTasks(draw_subsets(6, 8, 3, seed=3), 8, 0.4)
    g = torch.Generator().manual_seed(2)
    x, y, task = tasks.sample(5, generator=g, tasks=[4, 1])
    assert x.shape == (10, 14) and x.dtype == torch.float32
    assert task.tolist() == [4] * 5 + [1] * 5
    assert torch.equal(x[:, :6].argmax(1), task) and torch.all(x[:, :6].sum(1) == 1)
    bits = x[:, 6:].to(torch.uint8)
    assert torch.equal(y, tasks.labels(task, bits))
    with pytest.raises(QuantaError):
        tasks.sample(5, generator=g, tasks=[6])


def test_from_config_rebuilds_the_runs_tasks():
    cfg = ParityConfig(n_tasks=12, n=9, k=3, alphas=[0.3, 0.7], widths=[4], task_seed=4)
    tasks = ParityTasks.from_config(asdict(cfg))
    assert np.array_equal(tasks.subsets_np, draw_subsets(12, 9, 3, seed=4)) and tasks.alpha == 0.3
    assert ParityTasks.from_config(asdict(cfg), alpha=0.7).alpha == 0.7
    table = tasks.table()
    assert list(table.columns) == ["alpha", "task", "p", "bits", "n"] and (table["n"] == tasks.n).all()
    assert table["bits"][0] == list(tasks.subsets_np[0])


def test_test_set_is_task_major_and_reproducible():
    tasks = ParityTasks(draw_subsets(5, 8, 3, seed=0), 8, 0.4)
    t1, b1, y1 = tasks.test_set(7, seed=3)
    t2, b2, _ = tasks.test_set(7, seed=3)
    assert t1.tolist() == sorted(t1.tolist()) and np.bincount(t1.numpy()).tolist() == [7] * 5
    assert torch.equal(b1, b2) and torch.equal(y1, tasks.labels(t1, b1))
    assert not torch.equal(b1, tasks.test_set(7, seed=4)[1])


def _rows(task, bits):
    return sorted(zip(task.tolist(), map(tuple, bits.tolist())))


def test_fixed_training_set_is_visited_once_per_epoch():
    tasks = ParityTasks(draw_subsets(6, 8, 3, seed=0), 8, 0.4)
    stream = DataStream(tasks, D=12, seed=1, batch_size=4, device="cpu")
    train_rows = _rows(stream.train[0], stream.train[1])
    for _ in range(2):  # two epochs, each a fresh order of the same 12 samples
        batches = [stream.next() for _ in range(3)]
        assert all(b[0].shape == (4,) for b in batches)
        assert _rows(torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches])) == train_rows
    small = DataStream(tasks, D=5, seed=1, batch_size=64, device="cpu")
    assert small.batch_size == 5  # a batch never exceeds the training set


def test_batches_across_epoch_boundaries_and_state_roundtrip():
    tasks = ParityTasks(draw_subsets(6, 8, 3, seed=0), 8, 0.4)
    a = DataStream(tasks, D=10, seed=2, batch_size=4, device="cpu")
    for _ in range(3):  # 12 samples: crosses into the second epoch
        a.next()
    st = a.state_dict()
    want = [a.next() for _ in range(4)]
    b = DataStream(tasks, D=10, seed=2, batch_size=4, device="cpu")
    b.load_state_dict(st)
    got = [b.next() for _ in range(4)]
    assert all(torch.equal(x, y) for w, g in zip(want, got) for x, y in zip(w, g))
    # the epoch order is not stored but drawn again from the state it came from; an earlier quanta's checkpoint,
    # which stored the order itself, still loads
    assert "perm" not in st and st["epoch_gen"] is not None
    c = DataStream(tasks, D=10, seed=2, batch_size=4, device="cpu")
    c.load_state_dict({"gen": st["gen"], "perm": _order_after(tasks, 3), "pos": st["pos"]})
    d = DataStream(tasks, D=10, seed=2, batch_size=4, device="cpu")
    d.load_state_dict(c.state_dict())  # checkpointed again before a new epoch: the loaded order is kept
    for s in (c, d):
        got = [s.next() for _ in range(4)]
        assert all(torch.equal(x, y) for w, g in zip(want, got) for x, y in zip(w, g))


def test_an_epoch_order_drawn_otherwise_on_resume_is_said(caplog):
    """A checkpoint keeps the head of its epoch order; where the order drawn again differs (another device kind or
    torch version), the resume says that the run is no longer exact, and goes on; where it agrees, nothing is said."""
    tasks = ParityTasks(draw_subsets(6, 8, 3, seed=0), 8, 0.4)
    a = DataStream(tasks, D=10, seed=2, batch_size=4, device="cpu")
    a.next()
    st = a.state_dict()
    assert torch.equal(st["perm_head"], a.perm[:10])
    with caplog.at_level("WARNING", logger="quanta.parity.data"):
        DataStream(tasks, D=10, seed=2, batch_size=4, device="cpu").load_state_dict(st)
        assert not caplog.records
        b = DataStream(tasks, D=10, seed=2, batch_size=4, device="cpu")
        b.load_state_dict({**st, "perm_head": st["perm_head"].flip(0)})
    assert len(caplog.records) == 1 and "no longer identical" in caplog.records[0].getMessage()
    assert torch.equal(b.perm, a.perm) and b.pos == a.pos


def _order_after(tasks, n_batches):
    """The epoch order a D=10, seed=2, batch-4 stream holds after ``n_batches`` batches."""
    s = DataStream(tasks, D=10, seed=2, batch_size=4, device="cpu")
    for _ in range(n_batches):
        s.next()
    return s.perm.clone()


def test_online_stream_is_fresh_each_step_and_seeded():
    tasks = ParityTasks(draw_subsets(6, 8, 3, seed=0), 8, 0.4)
    a = DataStream(tasks, D=0, seed=3, batch_size=32, device="cpu")
    b = DataStream(tasks, D=0, seed=3, batch_size=32, device="cpu")
    first, second = a.next(), a.next()
    assert not torch.equal(first[1], second[1])
    assert torch.equal(first[1], b.next()[1])
    other = DataStream(tasks, D=0, seed=4, batch_size=32, device="cpu")
    assert not torch.equal(first[1], other.next()[1])


def test_test_inputs_seen_in_training_match_a_simulation_and_the_docs():
    """The expected share of the task-weighted test set among a training set's inputs, against a plain simulation
    of independent draws; and the figures docs/parity-run.md quotes for the cpu presets' tasks."""
    import re
    from pathlib import Path

    from quanta.parity.config import task_probs
    from quanta.parity.data import test_seen_in_training

    rng = np.random.default_rng(0)
    p, n, D = task_probs(0.4, 5), 6, 300
    shares = []
    for _ in range(300):
        train = set(zip(rng.choice(5, D, p=p), rng.integers(0, 2 ** n, D)))
        seen = np.array([[(k, b) in train for b in range(2 ** n)] for k in range(5)]).mean(axis=1)
        shares.append(float((p * seen).sum()))
    assert np.mean(shares) == pytest.approx(test_seen_in_training(p, n, D), abs=0.005)
    assert test_seen_in_training(p, n, 0) == 0.0
    page = (Path(__file__).resolve().parents[1] / "docs" / "parity-run.md").read_text()
    m = re.search(r"is (\d+)%\nat D = 1e4 and (\d+)% at D = 1e5", page)
    p286 = task_probs(0.4, 286)
    assert m and [int(m.group(1)), int(m.group(2))] == [round(100 * test_seen_in_training(p286, 13, D))
                                                         for D in (10 ** 4, 10 ** 5)]


def test_rare_tasks_are_drawn_at_their_frequency():
    """5,000 tasks at α = 1: near the top of a float32 CDF its values are 2^-24 apart, more than the rarest tasks'
    probabilities (about 2.4e-8), so in float32 hundreds of tasks share a CDF value and can never be drawn. Such laws
    are drawn in float64: every task has its own interval of the CDF, of its probability's width."""
    import torch

    from quanta.parity.data import FLOAT32_MIN_P, ParityTasks, draw_subsets

    tasks = ParityTasks(draw_subsets(5000, 40, 3, 0), 40, 1.0)
    assert tasks.probs_np.min() < FLOAT32_MIN_P and tasks.sample_dtype == torch.float64
    cdf = tasks.cdf.numpy()
    widths = np.diff(np.concatenate([[0.0], cdf]))
    assert (widths > 0).all() and widths[:-1] == pytest.approx(tasks.probs_np[:-1], rel=1e-6)
    f32 = np.diff(np.concatenate([[0.0], cdf.astype(np.float32)]))
    assert (f32 == 0).sum() > 100  # what a float32 draw would have skipped
    # a draw lands on the rare tasks at their frequency
    n = 4_000_000
    counts = np.bincount(tasks.sample_tasks(n, generator=torch.Generator().manual_seed(0)).numpy(), minlength=5000)
    expected = n * tasks.probs_np[2500:].sum()  # about 490 draws over 2,500 tasks
    assert abs(counts[2500:].sum() - expected) < 4 * np.sqrt(expected)
    # a law with no rare task keeps the float32 draw (and the streams of recorded runs)
    assert ParityTasks(draw_subsets(286, 13, 3, 0), 13, 0.4).sample_dtype == torch.float32
