import pytest
import torch
import torch.nn.functional as F

from quanta.parity.data import ParityTasks, draw_subsets
from quanta.parity.ensemble import BatchedMLP, ParityMLP, init_member, n_params, parity_ce
from quanta.parity.train import DataStream, ParityConfig, SweepTrainer


def test_n_params_matches_the_module_and_the_paper():
    for depth in (1, 2, 3):
        net = ParityMLP(37, 6, depth)
        assert n_params(37, 6, depth) == sum(p.numel() for p in net.parameters())
    # the paper's sweep: 500 control + 100 data bits; widths 9 and 500 give 5,429 and 301,502 parameters
    assert n_params(600, 9) == 5429 and n_params(600, 500) == 301502


def test_init_depends_only_on_seed_and_width():
    a, b = init_member(20, 8, 1, seed=3), init_member(20, 8, 1, seed=3)
    assert all(torch.equal(a[k], b[k]) for k in a)
    c = init_member(20, 8, 1, seed=4)
    assert not torch.equal(a["layers.0.weight"], c["layers.0.weight"])
    bound = 1 / 20 ** 0.5
    assert a["layers.0.weight"].abs().max() <= bound and a["layers.1.weight"].abs().max() <= 1 / 8 ** 0.5


@pytest.mark.parametrize("depth", [1, 2])
def test_batched_forward_equals_each_member_alone(depth):
    T, n, widths, seeds = 7, 9, [3, 5, 8], [0, 11]
    model = BatchedMLP(T, n, widths, n_groups=2, depth=depth, seeds=seeds)
    tasks = ParityTasks(draw_subsets(T, n, 3, seed=0), n, 0.4)
    g = torch.Generator().manual_seed(0)
    raw = [tasks.sample_raw(50, generator=g) for _ in seeds]
    task = torch.stack([r[0] for r in raw])
    bits = torch.stack([r[1] for r in raw]).float()
    out = model(task, bits)  # (G, B, M, 2)
    assert out.shape == (2, 50, 3, 2)
    for gi, seed in enumerate(seeds):
        x = tasks.to_inputs(raw[gi][0], raw[gi][1])
        for m, w in enumerate(widths):
            alone = ParityMLP(T + n, w, depth)
            alone.load_state_dict(init_member(T + n, w, depth, seed))
            torch.testing.assert_close(out[gi, :, m], alone(x), rtol=1e-5, atol=1e-6)
            member = model.member(gi, m)
            torch.testing.assert_close(member(x), alone(x), rtol=1e-5, atol=1e-6)


def test_gradient_of_one_member_touches_only_its_parameters():
    model = BatchedMLP(5, 6, [2, 4, 3], n_groups=2, depth=2, seeds=[0, 1])
    g = torch.Generator().manual_seed(0)  # its own inputs, whichever tests ran before it in this process
    task = torch.randint(0, 5, (2, 16), generator=g)
    bits = torch.randint(0, 2, (2, 16, 6), generator=g).float()
    model(task, bits)[1, :, 2].sum().backward()  # group 1, member 2 only
    owner = torch.zeros(2, 3, dtype=torch.bool)
    owner[1, 2] = True
    masks = model.param_masks(owner)
    for name, p in model.named_parameters():
        outside = p.grad.masked_fill(masks[name].expand_as(p), 0)
        assert torch.count_nonzero(outside) == 0, name
        assert torch.count_nonzero(p.grad) > 0, name


def test_param_masks_partition_every_parameter():
    model = BatchedMLP(4, 5, [2, 3], n_groups=3, depth=2)
    total = {name: torch.zeros_like(p, dtype=torch.int64) for name, p in model.named_parameters()}
    for g in range(3):
        for m in range(2):
            sel = torch.zeros(3, 2, dtype=torch.bool)
            sel[g, m] = True
            for name, mask in model.param_masks(sel).items():
                total[name] += mask.expand_as(total[name]).long()
    assert all(bool((t == 1).all()) for t in total.values())


def test_parity_ce_is_cross_entropy():
    logits = torch.randn(4, 10, 3, 2)
    y = torch.randint(0, 2, (4, 10))
    ce, correct = parity_ce(logits, y)
    ref = F.cross_entropy(logits.permute(0, 3, 1, 2), y[:, :, None].expand(4, 10, 3), reduction="none")
    torch.testing.assert_close(ce, ref)
    assert torch.equal(correct, logits.argmax(-1) == y[..., None])


def _alone(cfg, alpha, D, seed, width, steps):
    """Train one member with a plain nn.Module, torch's AdamW and the same data stream."""
    n_in = cfg.n_tasks + cfg.n
    net = ParityMLP(n_in, width, cfg.depth)
    net.load_state_dict(init_member(n_in, width, cfg.depth, seed))
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, betas=cfg.betas, eps=cfg.eps,
                            weight_decay=cfg.weight_decay)
    tasks = ParityTasks(draw_subsets(cfg.n_tasks, cfg.n, cfg.k, cfg.task_seed), cfg.n, alpha)
    stream = DataStream(tasks, D, seed, cfg.batch_size, "cpu")
    for _ in range(steps):
        task, bits, y = stream.next()
        loss = F.cross_entropy(net(tasks.to_inputs(task, bits)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net


@pytest.mark.parametrize("depth", [1, 2])
def test_sweep_member_equals_model_trained_alone_after_50_steps(depth):
    cfg = ParityConfig(n_tasks=10, n=12, k=3, alphas=[0.4, 0.8], widths=[4, 9, 16], seeds=[0, 1],
                       data_sizes=[0, 48], depth=depth, batch_size=64, steps=50, lr=1e-2, weight_decay=0.05,
                       betas=[0.8, 0.99], n_evals=2, n_test_per_task=8)
    trainer = SweepTrainer(cfg)
    before = trainer.model.member_state(0, 0)
    for _ in range(50):
        trainer.train_step()
    members = trainer.members()
    # one online member and one fixed-D member (D=48 < batch 64: the batch is the whole training set)
    for alpha, D, seed, width in [(0.8, 0, 1, 9), (0.4, 48, 0, 16)]:
        row = members[(members.alpha == alpha) & (members.D == D) & (members.seed == seed)
                      & (members.width == width)].iloc[0]
        got = trainer.model.member_state(int(row.g), int(row.m))
        want = _alone(cfg, alpha, D, seed, width, 50).state_dict()
        assert not torch.equal(got["layers.0.weight"], init_member(22, width, depth, seed)["layers.0.weight"])
        for key in want:
            torch.testing.assert_close(got[key], want[key], rtol=1e-4, atol=2e-5, msg=key)
    # the check can fail: an untrained member is far from its trained self
    assert (before["layers.0.weight"] - trainer.model.member_state(0, 0)["layers.0.weight"]).abs().max() > 1e-2
