"""The learning benchmark's parts (bench/learning/): the task's verifier, the policy's sampler and
loss, the arms' wiring to hadw and the bias measurement, each against an independent computation,
and a run being deterministic."""

import filecmp
import math
import os
import sys

import numpy as np
import pytest

from conftest import peer

torch = peer("torch")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench", "learning"))

import arms  # noqa: E402
import report  # noqa: E402
import tasks  # noqa: E402
import train  # noqa: E402
from policy import Policy  # noqa: E402


def decode(tokens):
    """Least-significant-first digit tokens -> int, written independently of tasks.digits."""
    return sum(int(t) * 10**k for k, t in enumerate(tokens))


def test_prompts_and_answers_are_the_integer_sum():
    task = tasks.Addition(4)
    a, b, bucket = task.sample(np.random.default_rng(1), 400)
    P, A = task.prompts(a, b), task.answers(a, b)
    assert P.shape == (400, 11) and A.shape == (400, 5)
    for i in range(400):
        row = P[i].tolist()
        assert row[0] == tasks.BOS and row[5] == tasks.PLUS and row[10] == tasks.EQUALS
        assert decode(row[1:5]) == a[i] and decode(row[6:10]) == b[i]
        assert decode(A[i].tolist()) == int(a[i]) + int(b[i])
        # the bucket is the number of significant digits of both operands, minus one
        assert len(str(int(a[i]))) == len(str(int(b[i]))) == bucket[i] + 1
    assert np.bincount(bucket, minlength=4).tolist() == [100] * 4


def test_reward_is_exact_match_only():
    answer = torch.tensor([[1, 2, 3], [1, 2, 3], [1, 2, 3]])
    sampled = torch.tensor([[1, 2, 3], [1, 2, 4], [0, 2, 3]])
    assert tasks.Addition.rewards(answer, sampled).tolist() == [1.0, 0.0, 0.0]


def test_cached_sampling_reads_the_same_logits_as_a_full_forward():
    torch.manual_seed(0)
    task = tasks.Addition(3)
    policy = Policy(tasks.VOCAB, task.prompt_len + task.answer_len)
    a, b, _ = task.sample(np.random.default_rng(2), 6)
    P = task.prompts(a, b)
    gen = torch.Generator().manual_seed(3)
    out = policy.sample(P, task.answer_len, gen)
    # replay: the draws must be what torch.multinomial gives on the full-forward softmax
    gen = torch.Generator().manual_seed(3)
    ids = P
    with torch.no_grad():
        for j in range(task.answer_len):
            probs = torch.softmax(policy(ids)[:, -1], -1)
            nxt = torch.multinomial(probs, 1, generator=gen)
            assert torch.equal(nxt[:, 0], out[:, j])
            ids = torch.cat([ids, nxt], 1)
        lp = policy.answer_logprobs(P, out)
        full = torch.log_softmax(policy(ids[:, :-1]), -1)[:, P.shape[1] - 1:]
    assert torch.allclose(lp, full.gather(-1, out.unsqueeze(-1)).squeeze(-1), atol=1e-6)


def test_clipped_surrogate_is_the_policy_gradient_on_policy_and_clips_off_policy():
    torch.manual_seed(0)
    logp = torch.randn(8, 5, requires_grad=True)
    adv = torch.randn(8)
    train.clipped_surrogate(logp, logp.detach(), adv, 0.2).backward()
    assert torch.allclose(logp.grad, -adv.unsqueeze(1).expand(8, 5) / 40)
    # ratio 2 with a positive advantage is clipped at 1.2: no gradient
    logp2 = torch.zeros(1, 1, requires_grad=True)
    loss = train.clipped_surrogate(logp2, torch.tensor([[-math.log(2)]]), torch.ones(1), 0.2)
    loss.backward()
    assert loss.item() == pytest.approx(-1.2) and logp2.grad.item() == 0.0


def test_arms_compute_what_they_name():
    rng = np.random.default_rng(4)
    G = 8
    r = (rng.random(64) < rng.random(8).repeat(G)).astype(np.float64)
    mean = r.reshape(8, G).mean(1, keepdims=True)
    std = r.reshape(8, G).std(1, ddof=1, keepdims=True)
    grpo = ((r.reshape(8, G) - mean) / (std + 1e-6)).reshape(-1)
    by_name = {a.name: a for a in arms.all_arms()}

    adv, lr, _ = by_name["grpo"].advantages(r, G, None, None)
    assert np.allclose(adv, grpo, atol=1e-12) and lr == 1.0

    # HA-DW with a fixed anchor C = 0.5: Phi = lambda exp(-sgn(A) sgn(p_hat - C) |p_hat - C|)
    arm = by_name["hadw_fixed_l1.5"]
    adv, lr, _ = arm.advantages(r, G, arm.make_anchor(), None)
    diff = np.repeat(mean[:, 0] - 0.5, G)
    phi = 1.5 * np.exp(-np.sign(grpo) * np.sign(diff) * np.abs(diff))
    assert np.allclose(adv, grpo * phi, atol=1e-12) and lr == 1.0

    # the step-size control: GRPO's advantages, the learning rate times the paper-anchor arm's
    # mean weight over the responses it weighs (the non-degenerate groups)
    ctrl, twin = by_name["lr_match_l1.3"], by_name["hadw_kalman_l1.3"]
    adv, lr, _ = ctrl.advantages(r, G, ctrl.make_anchor(), None)
    weighted, _, _ = twin.advantages(r, G, twin.make_anchor(), None)
    assert np.allclose(adv, grpo, atol=1e-12)
    live = np.repeat(std[:, 0] > 0, G)
    assert lr == pytest.approx((weighted[live] / grpo[live]).mean(), rel=1e-12)


def test_measured_bias_matches_lemma2_on_bernoulli_draws():
    """report.binned_bias on draws with a known p must reproduce Lemma 2 (closed form here)."""
    rng = np.random.default_rng(5)
    G, rows = 8, []
    for p in (0.05, 0.25, 0.45, 0.75, 0.95):   # bin centres of report's 10 bins
        for _ in range(400):
            groups = (rng.random((50, G)) < p).mean(1)
            live = (groups > 0) & (groups < 1)
            rows.append((0, 0, p, p, groups[live].sum(), live.sum()))
    for mid, measured, predicted, n in report.binned_bias(np.array(rows), G):
        p = mid
        closed = (p - p**G) / (1 - (1 - p)**G - p**G) - p
        assert predicted == pytest.approx(closed, rel=1e-12)
        assert measured == pytest.approx(closed, abs=4 * 0.5 / math.sqrt(G * n))


def test_a_run_is_deterministic(tmp_path):
    cfg = train.Config(steps=3, eval_every=2, eval_prompts=2, eval_samples=16, warm_max_steps=5,
                       prompts=4)
    task = tasks.Addition(cfg.n_digits)
    warm = train.warm_start(task, cfg, 7)
    arm = {a.name: a for a in arms.all_arms()}["hadw_kalman_l1.5"]
    for out in ("a", "b"):
        train.run(arm, 7, cfg, warm, str(tmp_path / out))
    for name in ("seed7.csv", "seed7_eval.csv", "seed7_bias.csv"):
        assert filecmp.cmp(tmp_path / "a" / arm.name / name, tmp_path / "b" / arm.name / name,
                           shallow=False)
