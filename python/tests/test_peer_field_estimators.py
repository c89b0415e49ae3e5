"""hadw's maxrl, dgpo and krpo against line-by-line float64 transcriptions of their sources
(none of them is in the installed verl 0.9.1 / TRL 1.16.0), on random uniform and ragged
batches, and through the verl adapter's registry names hadw_maxrl, hadw_dgpo, hadw_krpo.

Sources (transcribed below, each in its own function):
- prime-rl, max_rl_advantage_fn:
  https://github.com/PrimeIntellect-ai/prime-rl/blob/039b4009f84aa9996a5cca4ae6ab257de094ff81/src/prime_rl/orchestrator/algo/advantage.py
- SkyRL, compute_maxrl_advantage:
  https://github.com/NovaSky-AI/SkyRL/blob/03d74caf596391a62a53528ca9d23a51baffae3c/skyrl/backends/skyrl_train/utils/ppo_utils.py
- MathForge (DGPO, ICLR 2026), GRPOTrainer._generate_and_score_completions, enable_dgpo:
  https://github.com/AMAP-ML/MathForge/blob/8b65a62326f2fd9eba7ced31b0e52f92a040101d/trl-0.20.0/trl/trainer/grpo_trainer.py
- KRPO (arXiv 2505.07527), KalmanFilter and group_advantages:
  https://github.com/billhhh/KRPO_LLMs_RL/blob/582198fa23b1d9adf6f8359b7ca0652b8a85da31/train.py
The sources compute in float32 torch; the transcriptions in float64 NumPy, so hadw (double
inside) must agree to double rounding.
"""

from collections import defaultdict

import numpy as np
import pytest

import hadw
from conftest import peer

RTOL, ATOL = 1e-12, 1e-13


# ---------------------------------------------------------------------------------------------
# Transcriptions


def prime_rl_max_rl_advantage(rewards):
    """prime-rl max_rl_advantage_fn, one group (its `inputs.rollouts` rewards)."""
    rewards = np.asarray(rewards, dtype=np.float64)
    mean = rewards.mean()
    if mean <= 0:
        return np.zeros_like(rewards)
    return (rewards - mean) / mean


def skyrl_compute_maxrl_advantage(scores, index, epsilon=1e-6):
    """SkyRL compute_maxrl_advantage on the per-response scores (token_level_rewards.sum(-1))."""
    scores = np.array(scores, dtype=np.float64)
    id2score = defaultdict(list)
    id2mean = {}
    bsz = scores.shape[0]
    for i in range(bsz):
        id2score[index[i]].append(scores[i])
    for idx in id2score:
        if len(id2score[idx]) == 1:
            id2mean[idx] = 0.0
        elif len(id2score[idx]) > 1:
            id2mean[idx] = np.mean(np.array(id2score[idx]))
        else:
            raise ValueError(f"no score in prompt index: {idx}")
    for i in range(bsz):
        if len(id2score[index[i]]) > 1:
            scores[i] = (scores[i] - id2mean[index[i]]) / (id2mean[index[i]] + epsilon)
        else:
            scores[i] = scores[i] - id2mean[index[i]]
    return scores


def mathforge_dgpo_advantages(rewards, num_generations):
    """MathForge's enable_dgpo branch with scale_rewards (the advantage before its batch-level
    zero_mask_ratio / global_balancing_ratio / DQW multipliers, which are not the advantage)."""
    rewards = np.asarray(rewards, dtype=np.float64)
    mean_grouped_rewards = rewards.reshape(-1, num_generations).mean(axis=1)
    mean_grouped_rewards = np.repeat(mean_grouped_rewards, num_generations)
    advantages = rewards - mean_grouped_rewards
    advantages_extent = np.abs(advantages.reshape(-1, num_generations)).sum(axis=1)
    advantages_extent = np.repeat(advantages_extent, num_generations)
    return num_generations * advantages / (advantages_extent + 1e-4)


class KalmanFilter:
    """KRPO train.py KalmanFilter."""

    def __init__(self, process_var=1e-5, meas_var=1e-2, init_mean=0.0, init_var=1.0):
        self.Q = process_var
        self.R = meas_var
        self.x = float(init_mean)
        self.P = float(init_var)

    def update(self, z):
        P_pred = self.P + self.Q
        K = P_pred / (P_pred + self.R)
        self.x = self.x + K * (z - self.x)
        self.P = (1 - K) * P_pred
        return self.x, self.P


def krpo_group_advantages(returns, process_var=1e-5, meas_var=1e-2, eps=1e-8):
    """KRPO train.py group_advantages, one group's returns in order."""
    kf = KalmanFilter(process_var=process_var, meas_var=meas_var)
    advantages = []
    for r in np.asarray(returns, dtype=np.float64).ravel():
        mean_est, var_est = kf.update(r)
        advantages.append((r - mean_est) / (np.sqrt(var_est) + eps))
    return np.array(advantages)


def per_group(fn, rewards, offsets):
    out = np.empty(len(rewards))
    for b, e in zip(offsets[:-1], offsets[1:]):
        out[b:e] = fn(rewards[b:e])
    return out


def ragged(rng, kind, with_singletons=False):
    sizes = rng.integers(1 if with_singletons else 2, 17, 40)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    n = int(offsets[-1])
    if kind == "binary":
        r = (rng.random(n) < rng.random(len(sizes)).repeat(sizes)).astype(np.float64)
    else:
        r = rng.random(n) * 2.0
    return r, offsets


# ---------------------------------------------------------------------------------------------
# hadw.estimate against the transcriptions


@pytest.mark.parametrize("kind", ["binary", "uniform"])
def test_maxrl_equals_prime_rl(rng, kind):
    for G in (2, 4, 8, 16):
        r = rng.random(64 * G) * 2.0 if kind == "uniform" else \
            (rng.random(64 * G) < rng.random(64).repeat(G)).astype(np.float64)
        r[:G] = 0.0  # a group with no success: mean 0, advantages 0
        ours = hadw.estimate("maxrl", r, group_size=G)
        theirs = per_group(prime_rl_max_rl_advantage, r, np.arange(0, 64 * G + 1, G))
        np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL)
    # Ragged, with groups of one: prime-rl scores a lone rollout like any group (0): 'keep'.
    r, offsets = ragged(rng, kind, with_singletons=True)
    ours = hadw.estimate("maxrl", r, offsets=offsets, singleton="keep")
    np.testing.assert_allclose(ours, per_group(prime_rl_max_rl_advantage, r, offsets),
                               rtol=RTOL, atol=ATOL)


def test_maxrl_guards_a_non_positive_mean_as_prime_rl(rng):
    r = np.array([-1.0, 0.0, 0.0, 0.5, -2.0, 1.0, 1.0, 1.0])
    ours = hadw.estimate("maxrl", r, group_size=4)
    theirs = per_group(prime_rl_max_rl_advantage, r, np.array([0, 4, 8]))
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL)
    assert np.all(ours[:4] == 0.0)


@pytest.mark.parametrize("kind", ["binary", "uniform"])
def test_maxrl_skyrl_preset_equals_skyrl(rng, kind):
    r, offsets = ragged(rng, kind, with_singletons=True)
    uids = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    perm = rng.permutation(len(r))  # verl-style uids in any order
    r, uids = r[perm], uids[perm]
    ours = hadw.estimate("maxrl", r, index=uids, compat="skyrl")
    theirs = skyrl_compute_maxrl_advantage(r, uids)
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("kind", ["binary", "uniform"])
def test_dgpo_equals_mathforge(rng, kind):
    for G in (2, 4, 8, 16):
        n = 64 * G
        r = rng.random(n) if kind == "uniform" else \
            (rng.random(n) < rng.random(64).repeat(G)).astype(np.float64)
        ours = hadw.estimate("dgpo", r, group_size=G)
        np.testing.assert_allclose(ours, mathforge_dgpo_advantages(r, G), rtol=RTOL, atol=ATOL)
    # Ragged: MathForge's groups are uniform; each ragged group is its own num_generations.
    r, offsets = ragged(rng, kind)
    ours = hadw.estimate("dgpo", r, offsets=offsets)
    theirs = per_group(lambda g: mathforge_dgpo_advantages(g, len(g)), r, offsets)
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("kind", ["binary", "uniform"])
def test_krpo_equals_the_kalman_filter(rng, kind):
    for G in (2, 4, 8, 12, 16):
        n = 64 * G
        r = rng.random(n) if kind == "uniform" else \
            (rng.random(n) < rng.random(64).repeat(G)).astype(np.float64)
        ours = hadw.estimate("krpo", r, group_size=G)
        theirs = per_group(krpo_group_advantages, r, np.arange(0, n + 1, G))
        np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL)
    r, offsets = ragged(rng, kind)
    ours = hadw.estimate("krpo", r, offsets=offsets, process_var=1e-3, measurement_var=0.5)
    theirs = per_group(lambda g: krpo_group_advantages(g, 1e-3, 0.5), r, offsets)
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL)


def test_krpo_filters_in_group_order_with_index_layouts(rng):
    r, offsets = ragged(rng, "uniform")
    uids = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    perm = rng.permutation(len(r))
    ours = hadw.estimate("krpo", r[perm], index=uids[perm])
    # group order = the order each uid's responses arrive in: filter them in that order.
    theirs = np.empty(len(r))
    for u in np.unique(uids):
        at = np.flatnonzero(uids[perm] == u)
        theirs[at] = krpo_group_advantages(r[perm][at])
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL)


def test_new_names_are_listed_and_bad_options_named():
    for name in ("maxrl", "dgpo", "krpo", "grpo_leave_one_out", "ha_dw_authors"):
        assert name in hadw.ESTIMATORS
        hadw.Estimator(name)
    r = np.array([1.0, 0.0, 0.0, 1.0])
    with pytest.raises(hadw.Error, match="measurement_var"):
        hadw.estimate("krpo", r, group_size=2, measurement_var=0.0)
    with pytest.raises(hadw.Error, match="process_var: not an option of estimator 'dgpo'"):
        hadw.estimate("dgpo", r, group_size=2, process_var=1e-5)
    with pytest.raises(hadw.Error, match="eps"):
        hadw.estimate("maxrl", r, group_size=2, eps=-1.0)
    assert "process_var=" in repr(hadw.Estimator("krpo"))


# ---------------------------------------------------------------------------------------------
# The verl adapter's registry names

def expected_scores(name, r, uids):
    """The registered function's per-response advantages: verl's size-1 rule (baseline 0, scale
    1) for all three; maxrl is SkyRL's (verl-derived) function with verl's epsilon."""
    if name == "hadw_maxrl":
        return skyrl_compute_maxrl_advantage(r, uids, 1e-6)
    out = np.empty(len(r))
    for u in dict.fromkeys(uids):
        at = np.flatnonzero(uids == u)
        if len(at) == 1:  # verl's rule: baseline 0, scale 1 (+ eps for dgpo's scale)
            out[at] = r[at] / (1 + 1e-4) if name == "hadw_dgpo" else r[at]
        elif name == "hadw_dgpo":
            out[at] = mathforge_dgpo_advantages(r[at], len(at))
        else:
            out[at] = krpo_group_advantages(r[at])
    return out


def make_batch(rng, sizes):
    torch = peer("torch")
    n, L = int(sum(sizes)), 6
    uids = np.repeat(np.array([f"u{k}" for k in range(len(sizes))], dtype=object), sizes)
    perm = rng.permutation(n)
    uids = uids[perm]
    lengths = rng.integers(1, L + 1, n)
    mask = (np.arange(L)[None, :] < lengths[:, None]).astype(np.float32)
    scores = (rng.random(n) < 0.5).astype(np.float32)
    tlr = np.zeros((n, L), dtype=np.float32)
    tlr[np.arange(n), lengths - 1] = scores  # the outcome on the last valid token
    return torch.from_numpy(tlr), torch.from_numpy(mask), uids, scores.astype(np.float64)


@pytest.mark.parametrize("name", ["hadw_maxrl", "hadw_dgpo", "hadw_krpo"])
def test_verl_registry_names_run_the_estimators(rng, name):
    import hadw.verl as hv

    core_algos = peer("verl.trainer.ppo.core_algos")
    fn = core_algos.get_adv_estimator_fn(name)
    assert fn is getattr(hv, f"compute_{name}_outcome_advantage")
    assert name in hv.anchors
    tlr, mask, uids, scores = make_batch(rng, [8] * 12 + [1, 3, 5])
    # The trainer passes its algorithm config; warm-up keeps HA-DW's weight at 1, so the tokens
    # are the estimator's advantages broadcast under the mask.
    tokens, returns = fn(tlr, mask, uids, config={"hadw": {"warmup_steps": 10**9}})
    assert tokens is returns and tokens.shape == mask.shape
    expected = expected_scores(name, scores, uids)[:, None] * mask.numpy()
    np.testing.assert_allclose(tokens.numpy(), expected, rtol=2e-6, atol=2e-6)  # float32 out


@pytest.mark.parametrize("name", ["maxrl", "dgpo", "krpo"])
def test_verl_adapter_applies_phi_to_each_new_estimator(rng, name):
    # HA-DW by hand (paper eq. 13-16) on the transcribed advantages: p̂ = the group's mean
    # reward, C = the anchor's fixed prior, Phi = lambda exp(-sgn(A) sgn(p̂ - C) |p̂ - C|).
    import hadw.verl as hv

    anchor = hadw.DifficultyAnchor("fixed", initial_belief=0.3)
    fn = hv.make_outcome_advantage(name, anchor=anchor, lambda_scale=1.3)
    tlr, mask, uids, scores = make_batch(rng, [8] * 16)
    tokens, _ = fn(tlr, mask, uids, config=None)
    base = expected_scores(f"hadw_{name}", scores, uids)
    p_hat = {u: scores[uids == u].mean() for u in set(uids)}
    diff = np.array([p_hat[u] - 0.3 for u in uids])
    phi = 1.3 * np.exp(-np.sign(base) * np.sign(diff) * np.abs(diff))
    np.testing.assert_allclose(tokens.numpy(), (base * phi)[:, None] * mask.numpy(),
                               rtol=2e-6, atol=2e-6)
