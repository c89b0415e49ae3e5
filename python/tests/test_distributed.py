"""hadw.distributed under torch.distributed's gloo backend, 2 and 4 processes on this machine:
every rank's anchor bit-identical to the others' and to one process over the whole batch, also
when a rank holds no complete group (or nothing at all)."""

import os
import pickle
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import hadw
from conftest import peer

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from dist_worker import G, batches  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_ranks(world, tmp_path, *extra):
    env = dict(os.environ, WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
               MASTER_PORT=str(free_port()), OMP_NUM_THREADS="1")
    procs = [subprocess.Popen([sys.executable, str(HERE / "dist_worker.py"), str(tmp_path),
                               *extra],
                              env=dict(env, RANK=str(r)), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for r in range(world)]
    for p in procs:
        out, _ = p.communicate(timeout=300)
        assert p.returncode == 0, out
    name = "errors" if extra else "rank"
    return [pickle.loads((tmp_path / f"{name}{r}.pkl").read_bytes()) for r in range(world)]


def test_a_failure_on_one_rank_reaches_every_rank(tmp_path):
    """Each scenario fails on one rank only (a reward outside the range, options that differ,
    dtypes that differ, a token mask of the wrong shape): every rank raises, none hangs in a
    collective (the run would time out), and no anchor moves."""
    peer("torch")
    ranks = run_ranks(2, tmp_path, "errors")
    for scenario in ("out_of_range", "options", "spread_dtype", "spread_tokens"):
        for rank, seen in enumerate(ranks):
            assert seen[scenario] is not None, (scenario, rank)
    assert "outside reward_range" in ranks[1]["out_of_range"][1]
    assert "1 rank(s) failed this step" in ranks[0]["out_of_range"][1]
    assert all("different options" in seen["options"][1] for seen in ranks)
    assert all("same dtype" in seen["spread_dtype"][1] for seen in ranks)
    assert "token_mask: shape [8, L] required" in ranks[0]["spread_tokens"][1]
    assert all(seen["anchor"] == hadw.DifficultyAnchor().save() for seen in ranks)


@pytest.mark.parametrize("world", [2, 4])
def test_anchors_match_one_process_over_the_whole_batch(world, tmp_path):
    peer("torch")
    ranks = run_ranks(world, tmp_path)
    ref = {k: hadw.DifficultyAnchor() for k in ("binary", "uniform", "spread")}
    for step in range(3):
        per_rank, binary, uniform, mask = batches(world, step)
        bounds = np.cumsum([0] + per_rank) * G
        # groups="local", binary rewards: one all-reduce of the counts
        adv, _ = hadw.estimate_and_reweight("grpo", binary, ref["binary"], group_size=G,
                                            lambda_scale=1.3)
        # non-binary rewards with a mask: the ordered gather and hadw's own scan
        adv_u, _ = hadw.estimate_and_reweight("rloo", uniform, ref["uniform"], group_size=G,
                                              mask=mask)
        for r, seen in enumerate(ranks):
            lo, hi = bounds[r], bounds[r + 1]
            got, state, stats = seen[("binary", step)]
            np.testing.assert_array_equal(got, adv[lo:hi])
            assert state == ref["binary"].save(), (world, step, r)
            assert stats["hadw/global_total"] == len(binary)
            got, state, _ = seen[("uniform", step)]
            np.testing.assert_array_equal(got, adv_u[lo:hi])
            assert state == ref["uniform"].save(), (world, step, r)
        # groups="spread": uids across ranks, a batch-level estimator, posterior timing
        rng = np.random.default_rng(7 + step)
        n = len(uniform)
        perm = rng.permutation(n)
        uids = np.array([f"prompt-{i // G}" for i in range(n)], dtype=object)[perm]
        adv_s, _ = hadw.estimate_and_reweight("grpo_batch_std", uniform[perm], ref["spread"],
                                              index=uids, timing="posterior")
        cuts = [0, 3, n // 2, n - 5, n] if world == 4 else [0, n // 3, n]
        for r, seen in enumerate(ranks):
            tok, state, _ = seen[("spread", step)]
            a, b = cuts[r], cuts[r + 1]
            np.testing.assert_array_equal(tok[:, :2], np.repeat(adv_s[a:b, None], 2, axis=1))
            assert (tok[:, 2] == 0).all()
            assert state == ref["spread"].save(), (world, step, r)
    if world == 4:
        assert len(ranks[0][("binary", 0)][0]) == 0  # rank 0 held nothing in 'local'


def test_refusals_name_the_reason():
    peer("torch")
    import hadw.distributed as hd

    with pytest.raises(RuntimeError, match="not initialised"):
        hd.estimate_and_reweight("grpo", np.zeros(4, np.float32), hadw.DifficultyAnchor(),
                                 group_size=2)
