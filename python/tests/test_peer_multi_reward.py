"""hadw.gdpo and hadw.remax against the peers' own code, run on the same random batches:

- verl 0.9.1 (installed): core_algos.compute_gdpo_outcome_advantage and
  compute_remax_outcome_advantage, called as verl's trainer calls them.
- TRL 1.16.0 (installed): GRPOTrainer._generate_and_score_completions computes advantages inline
  (trl/trainer/grpo_trainer.py, lines 2761-2808 in 1.16.0: ``if self.multi_objective_aggregation
  == "sum_then_normalize":`` through ``advantages = torch.nan_to_num(advantages, nan=0.0)``).
  As test_peer_trl.py does, those lines are cut from the installed source and executed unchanged
  with TRL's own nanstd and a stand-in ``self`` (multi_objective_aggregation, scale_rewards,
  reward_weights), so a TRL release that rewrites them fails here instead of testing a copy.

float64: TRL's lines agree to 1e-12. verl's masked_whiten divides by mask.sum() + 1e-8 where
hadw divides by the token count (verl_F.masked_mean), which moves verl's mean and variance by
a relative 1e-8 / W (W = the batch's tokens): the bound adds exactly that term, derived below.
verl's GDPO reads the K reward columns as float32 (np.asarray(..., dtype=np.float32)) and does
its arithmetic in float32, so K > 1 against verl is a float32 comparison, bounded by float32
rounding propagated through the formula (see assert_f32_close).
"""

import inspect
import textwrap

import numpy as np
import pytest

import hadw
from conftest import peer

torch = peer("torch")
core_algos = peer("verl.trainer.ppo.core_algos")
grpo_trainer = peer("trl.trainer.grpo_trainer")
trl_utils = peer("trl.trainer.utils")

F32_EPS = float(np.finfo(np.float32).eps)
VERL_DENOM_EPS = 1e-8  # verl_F.masked_mean: sum / (mask.sum() + 1e-8)

# ---------------------------------------------------------------------------------------------
# TRL's lines

BEGIN = 'if self.multi_objective_aggregation == "sum_then_normalize":'
END = "advantages = torch.nan_to_num(advantages, nan=0.0)"


def _trl_lines():
    source = inspect.getsource(grpo_trainer.GRPOTrainer._generate_and_score_completions)
    begin, end = source.find(BEGIN), source.find(END)
    assert begin >= 0 and end > begin, "TRL's advantage lines moved; update this test"
    assert '"normalize_then_sum"' in source[begin:end]
    start = source.rfind("\n", 0, begin) + 1
    return textwrap.dedent(source[start:end + len(END)])


TRL_CODE = compile(_trl_lines(), "<trl GRPOTrainer advantage lines>", "exec")


class _TrainerStandIn:
    def __init__(self, aggregation, weights, dtype):
        self.multi_objective_aggregation = aggregation
        self.scale_rewards = "group"
        self.reward_weights = torch.tensor(weights, dtype=dtype)
        self.reward_funcs = [None] * len(weights)  # the lines read only its length


def trl_advantages(rewards, weights, num_generations, aggregation="normalize_then_sum",
                   exact_bessel=True):
    """TRL's own lines on rewards_per_func = rewards [N, K] (NaN = the function returned None).

    TRL's nanstd (trl/trainer/utils.py:1041) forms Bessel's factor as `count / (count - 1)` of
    int64 tensors, which torch divides in its default dtype, float32: in a float64 run the factor
    n / (n - 1) is rounded to float32. `exact_bessel` runs the lines with torch's default dtype
    float64, so that the same code computes the factor exactly (the float64 comparisons);
    test_trl_float32_bessel_factor_is_the_only_difference measures the rounding itself."""
    rewards_per_func = torch.as_tensor(rewards).clone()
    scope = {
        "self": _TrainerStandIn(aggregation, weights, rewards_per_func.dtype),
        "torch": torch,
        "nanstd": trl_utils.nanstd,
        "rewards_per_func": rewards_per_func,
        "unscorable_mask": torch.isnan(rewards_per_func).all(dim=1),
        "num_generations": num_generations,
        "device": "cpu",
    }
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64 if exact_bessel else torch.float32)
    try:
        exec(TRL_CODE, scope)
    finally:
        torch.set_default_dtype(default)
    return scope["advantages"].numpy()


def reward_matrix(rng, n, k, dtype=np.float64):
    """K reward functions: a binary verifier, a continuous score, a format reward constant in
    most groups (a degenerate dimension) and levels with ties."""
    cols = [(rng.random(n) < rng.random()).astype(float), rng.random(n),
            np.full(n, 1.0), rng.integers(0, 3, n) / 2.0]
    cols[2][rng.random(n) < 0.1] = 0.0
    return np.ascontiguousarray(np.stack(cols[:k], 1), dtype=dtype)


@pytest.mark.parametrize("K", [1, 2, 4])
@pytest.mark.parametrize("G", [2, 8])
def test_gdpo_trl_preset_is_trls_normalize_then_sum(rng, K, G):
    for _ in range(5):
        r = reward_matrix(rng, 16 * G, K)
        w = rng.uniform(-1.0, 2.0, K)
        theirs = trl_advantages(r, w, G)
        ours = hadw.gdpo(r, weights=w, group_size=G, compat="trl")
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


def test_trl_float32_bessel_factor_is_the_only_difference(rng):
    # Under torch's float32 default TRL's two nanstd calls scale each std by sqrt(f32(n/(n-1)) /
    # (n/(n-1))), within F32_EPS / 2 of 1: the per-column one moves A_k relatively by that much,
    # the batch one the result. So |ours - TRL| <= F32_EPS (sum_k |w_k A_k|_i + max_j the same) /
    # std(s) + F32_EPS |A_i|, with the exact A_k and s computed here.
    G, K = 8, 3
    r = reward_matrix(rng, 16 * G, K)
    w = np.array([1.0, -0.5, 2.0])
    theirs = trl_advantages(r, w, G, exact_bessel=False)
    ours = hadw.gdpo(r, weights=w, group_size=G, compat="trl")
    x = r.reshape(-1, G, K)
    a = ((x - x.mean(1, keepdims=True)) / (x.std(1, ddof=1, keepdims=True) + 1e-4)).reshape(-1, K)
    wa = np.abs(a * w).sum(1)
    sd = (a @ w).std(ddof=1)
    bound = F32_EPS * (wa + wa.max()) / sd + F32_EPS * np.abs(theirs)
    assert np.all(np.abs(ours - theirs) <= bound)
    assert np.abs(ours - theirs).max() > 1e-12  # the rounding is real: exact_bessel is needed


def test_gdpo_trl_preset_with_unscorable_completions_is_trls(rng):
    G = 6
    r = reward_matrix(rng, 12 * G, 3)
    r[rng.random(r.shape) < 0.15] = np.nan  # a function returned None
    r[[3, 20, 40]] = np.nan                  # every function did: the completion is unscorable
    r[G * 5:G * 6, 0] = np.nan               # a whole group without reward 0
    r[G * 7 + 1:G * 8, 1] = np.nan           # a group with one scored value for reward 1
    w = np.array([1.0, 0.5, 2.0])
    theirs = trl_advantages(r, w, G)
    ours = hadw.gdpo(r, weights=w, group_size=G, compat="trl", nan="unscorable")
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


def test_sum_then_normalize_is_grpo_on_the_weighted_sum(rng):
    # TRL's default aggregation: no multi-reward entry needed, hadw.estimate on r @ w.
    G = 8
    r = reward_matrix(rng, 10 * G, 3)
    w = np.array([1.0, 0.25, 3.0])
    theirs = trl_advantages(r, w, G, aggregation="sum_then_normalize")
    ours = hadw.estimate("grpo", np.ascontiguousarray(r @ w), group_size=G, compat="trl")
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


def test_gdpo_accepts_torch_and_writes_out_in_place(rng):
    r = torch.from_numpy(reward_matrix(rng, 32, 2, np.float32))
    out = torch.empty(32, dtype=torch.float32)
    got = hadw.gdpo(r, weights=[1.0, 1.0], group_size=4, compat="trl", out=out)
    assert got is out
    want = trl_advantages(r.numpy(), np.array([1.0, 1.0], dtype=np.float32), 4)
    np.testing.assert_allclose(out.numpy(), want, rtol=0, atol=64 * F32_EPS * 4)


def test_gdpo_refuses_bad_input_by_name(rng):
    r = reward_matrix(rng, 16, 2)
    with pytest.raises(ValueError, match="weights: 2 weights required"):
        hadw.gdpo(r, weights=[1.0], group_size=4)
    with pytest.raises(hadw.Error, match="weights\\[1\\] finite"):
        hadw.gdpo(r, weights=[1.0, np.inf], group_size=4)
    with pytest.raises(ValueError, match="rewards: a 2-D array"):
        hadw.gdpo(r[:, 0].copy(), group_size=4)
    with pytest.raises(hadw.Error, match="rewards.shape\\[1\\] >= 1"):
        hadw.gdpo(np.zeros((16, 0)), weights=[], group_size=4)
    with pytest.raises(TypeError, match="rewards: float32 or float64 required"):
        hadw.gdpo(r.astype(np.int64), group_size=4)
    with pytest.raises(hadw.Error, match="compat"):
        hadw.gdpo(r, group_size=4, compat="openrlhf")
    out = np.full(16, 7.0)
    bad = r.copy()
    bad[5, 1] = np.nan
    with pytest.raises(hadw.Error, match="rewards column 1"):
        hadw.gdpo(bad, group_size=4, out=out)
    assert np.all(out == 7.0)


# ---------------------------------------------------------------------------------------------
# verl's gdpo


def verl_batch(rng, sizes, K, L=24, dtype=torch.float32):
    """A verl batch: uids in shuffled order, right-padded response masks (some rows empty), the
    K reward columns in non_tensor_batch, prompts and attention_mask in batch, and the summed
    reward on the last valid token of token_level_rewards."""
    uids = np.array([f"u{k}" for k, g in enumerate(sizes) for _ in range(g)], dtype=object)
    n = len(uids)
    order = rng.permutation(n)
    uids = uids[order]
    r = reward_matrix(rng, n, K, np.float32)
    lengths = rng.integers(1, L + 1, n)
    lengths[rng.random(n) < 0.1] = 0
    mask = torch.from_numpy((np.arange(L)[None, :] < lengths[:, None]).astype(np.float32))
    P = 5
    batch = {"prompts": torch.zeros(n, P, dtype=torch.int64),
             "attention_mask": torch.cat([torch.ones(n, P, dtype=torch.int64),
                                          mask.to(torch.int64)], 1)}
    keys = [f"reward_{k}" for k in range(K)]
    non_tensor = {key: r[:, k].copy() for k, key in enumerate(keys)}
    non_tensor["uid"] = uids
    tlr = torch.zeros(n, L, dtype=dtype)
    tlr[torch.arange(n), torch.from_numpy(np.maximum(lengths - 1, 0))] = torch.from_numpy(
        r.sum(1)).to(dtype)
    return tlr, mask, uids, keys, non_tensor, batch, r


def gdpo_reference_parts(r, uids, weights, lengths, eps=1e-6):
    """The naive per-response sum s and the whitening's mean and std (for the error bounds)."""
    s = np.zeros(len(uids))
    cond = np.zeros(len(uids))
    for u in dict.fromkeys(uids):
        idx = np.flatnonzero(uids == u)
        for k in range(r.shape[1]):
            x = r[idx, k].astype(np.float64)
            mu, sd = (x.mean(), x.std(ddof=1)) if len(idx) > 1 else (0.0, 1.0)
            s[idx] += weights[k] * (x - mu) / (sd + eps)
            if sd > 0:  # an all-equal column is exactly 0 on both sides
                cond[idx] += abs(weights[k]) * np.abs(x).max() / (sd + eps)
    W = lengths.sum()
    mean = (lengths * s).sum() / W
    std = np.sqrt((lengths * (s - mean) ** 2).sum() / (W - 1) + 1e-8)
    return s, mean, std, cond, W


def assert_f32_close(ours, theirs, cond, ulps=32):
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    assert ours.shape == theirs.shape and np.all(np.isfinite(theirs))
    bound = ulps * F32_EPS * (np.maximum(1.0, np.abs(theirs)) + cond)
    worst = float((np.abs(ours - theirs) / bound).max(initial=0.0))
    assert worst <= 1.0, f"max error {worst:.2f} x the float32 bound"


@pytest.mark.parametrize("K", [1, 2, 4])
@pytest.mark.parametrize("ragged", [False, True])
def test_adapter_hadw_gdpo_is_verls_gdpo_on_verls_inputs(rng, K, ragged):
    import hadw.verl as hv

    sizes = list(rng.integers(1, 9, 20)) if ragged else [6] * 16
    tlr, mask, uids, keys, non_tensor, batch, r = verl_batch(rng, sizes, K)
    weights = list(rng.uniform(0.1, 2.0, K))  # not float32 values: verl rounds them, so do we
    config = {"gdpo_reward_keys": keys, "gdpo_reward_weights": weights}
    theirs, theirs_ret = core_algos.compute_gdpo_outcome_advantage(
        tlr, mask, uids, config=config, non_tensor_batch=non_tensor, batch=batch)
    ours, ours_ret = hv.compute_hadw_gdpo_outcome_advantage(
        tlr, mask, uids, config=config, non_tensor_batch=non_tensor, batch=batch)
    assert ours is ours_ret and torch.equal(theirs, theirs_ret)
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    lengths = mask.sum(-1).numpy().astype(np.float64)
    w32 = np.float32(weights).astype(np.float64)
    s, mean, std, cond, _ = gdpo_reference_parts(r, uids, w32, lengths)
    # float32 rounding of each column's A_k is amplified by max|r| / s_k, then divided by the
    # batch std; the mean's rounding enters every row.
    row_cond = (cond + np.abs(s).max() + abs(mean)) / std
    assert_f32_close(ours, theirs, row_cond[:, None])


@pytest.mark.parametrize("norm", [True, False])
@pytest.mark.parametrize("singletons", [False, True])
def test_gdpo_one_column_float64_is_verls_to_its_float32_constants(rng, norm, singletons):
    # Without per-dimension keys verl's gdpo takes token_level_rewards as its one column, in its
    # dtype: float64 end to end, but for two constants verl keeps in float32.
    import hadw.verl as hv

    sizes = list(rng.integers(1 if singletons else 2, 9, 24))
    if singletons:
        sizes[:3] = [1, 1, 1]
    tlr, mask, uids, *_ = verl_batch(rng, sizes, 1, L=200, dtype=torch.float64)
    mask = mask.to(torch.float64)
    theirs, _ = core_algos.compute_gdpo_outcome_advantage(tlr, mask, uids,
                                                          norm_adv_by_std_in_grpo=norm)
    ours, _ = hv.compute_hadw_gdpo_outcome_advantage(tlr, mask, uids, norm_adv_by_std_in_grpo=norm)
    assert ours.dtype == torch.float64
    # Direct call too: hadw.gdpo on the [N, 1] scores with the token counts.
    lengths = mask.sum(-1).to(torch.int64)
    direct = hadw.gdpo(tlr.sum(-1, keepdim=True), index=uids, lengths=lengths, compat="verl",
                       normalise=norm)
    direct_tokens = hadw.broadcast_to_tokens(direct, mask.to(torch.bool))
    torch.testing.assert_close(direct_tokens, ours, rtol=0, atol=0)
    scores = tlr.sum(-1).numpy()
    L = lengths.numpy().astype(np.float64)
    s = np.zeros_like(scores)
    lone = np.zeros(len(scores), dtype=bool)
    for u in dict.fromkeys(uids):
        idx = np.flatnonzero(uids == u)
        x = scores[idx]
        mu, sd = (x.mean(), x.std(ddof=1)) if len(idx) > 1 else (0.0, 1.0)
        s[idx] = (x - mu) / (sd + 1e-6) if norm else x - mu
        lone[idx] = len(idx) == 1
    W = L.sum()
    mean = (L * s).sum() / W
    std = np.sqrt((L * (s - mean) ** 2).sum() / (W - 1) + 1e-8)
    a = np.abs(theirs.numpy())
    # 1. verl's masked_mean divides by W + 1e-8: its mean moves by mu 1e-8 / W and its std by
    #    about std 0.5e-8 / W, so A moves by at most (1e-8 / W) (|mu| / std + |A|).
    bound = 1e-12 * np.maximum(1.0, a) + 1.01 * VERL_DENOM_EPS / W * (abs(mean) / std + a)
    # 2. A lone response's std is torch.tensor(1.0), float32, so verl divides it by
    #    float32(1 + 1e-6): relative delta on s_i there. Every (s - mean)_j then moves by at most
    #    2 delta M (M = max |s| of lone rows), so A_i by at most (2 delta M + 2.02 delta M |A_i|)
    #    / std.
    if norm and lone.any():
        divisor = float(torch.tensor(1.0) + 1e-6)
        delta = abs(divisor - (1 + 1e-6)) / (1 + 1e-6)
        M = np.abs(s[lone]).max()
        bound = bound + 2.1 * delta * M * (1 + a) / std
    assert np.all(np.abs(ours.numpy() - theirs.numpy()) <= bound)


def test_adapters_are_registered_in_verl():
    import hadw.verl as hv

    assert core_algos.get_adv_estimator_fn("hadw_gdpo") is hv.compute_hadw_gdpo_outcome_advantage
    assert core_algos.get_adv_estimator_fn("hadw_remax") is hv.compute_hadw_remax_outcome_advantage


def test_adapter_hadw_gdpo_refuses_what_verl_asserts(rng):
    import hadw.verl as hv

    tlr, mask, uids, keys, non_tensor, batch, _ = verl_batch(rng, [4] * 4, 2)
    with pytest.raises(ValueError, match="gdpo_reward_keys"):
        hv.compute_hadw_gdpo_outcome_advantage(tlr, mask, uids, config={},
                                               non_tensor_batch=non_tensor, batch=batch)
    with pytest.raises(ValueError, match="reward key 'nope'"):
        hv.compute_hadw_gdpo_outcome_advantage(tlr, mask, uids,
                                               config={"gdpo_reward_keys": ["nope"]},
                                               non_tensor_batch=non_tensor, batch=batch)


# ---------------------------------------------------------------------------------------------
# ReMax


def remax_batch(rng, n=24, L=16, dtype=torch.float64, per_token=False, fractional=False):
    lengths = rng.integers(0, L + 1, n)
    mask = (np.arange(L)[None, :] < lengths[:, None]).astype(np.float64)
    mask[1::4, 2] = 0.0  # holes before valid tokens
    if fractional:
        mask *= rng.choice([0.5, 1.0, 0.25], size=mask.shape)
    tlr = np.zeros((n, L))
    if per_token:  # a KL penalty in the reward: every token carries one
        tlr = rng.normal(0.0, 0.1, (n, L))
    last = np.maximum(lengths - 1, 0)
    tlr[np.arange(n), last] += (rng.random(n) < 0.5)
    base = (rng.random(n) < 0.5).astype(np.float64)
    t = lambda x: torch.from_numpy(x).to(dtype)  # noqa: E731
    return t(tlr), t(mask), t(base)


@pytest.mark.parametrize("per_token", [False, True])
@pytest.mark.parametrize("fractional", [False, True])
def test_remax_float64_is_verls(rng, per_token, fractional):
    import hadw.verl as hv

    for _ in range(4):
        tlr, mask, base = remax_batch(rng, per_token=per_token, fractional=fractional)
        theirs_adv, theirs_ret = core_algos.compute_remax_outcome_advantage(tlr, base, mask)
        ours_adv, ours_ret = hadw.remax_tokens(tlr, mask, base)
        np.testing.assert_allclose(ours_ret, theirs_ret, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(ours_adv, theirs_adv, rtol=1e-12, atol=1e-12)
        a, g = hv.compute_hadw_remax_outcome_advantage(tlr, base, mask)
        assert a.dtype == theirs_adv.dtype and g.dtype == theirs_ret.dtype
        np.testing.assert_allclose(a, theirs_adv, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(g, theirs_ret, rtol=1e-12, atol=1e-12)


def test_remax_float32_with_a_bool_mask_is_verls(rng):
    # verl sums in float32 token by token; hadw in double, rounded once: the difference is
    # bounded by verl's running-sum rounding, L float32 epsilons times the sum of |r_t|.
    import hadw.verl as hv

    tlr, mask, base = remax_batch(rng, dtype=torch.float32, per_token=True)
    bmask = mask.to(torch.bool)
    theirs_adv, theirs_ret = core_algos.compute_remax_outcome_advantage(tlr, base, bmask)
    ours_adv, ours_ret = hv.compute_hadw_remax_outcome_advantage(tlr, base, bmask)
    assert ours_adv.dtype == theirs_adv.dtype == torch.float32
    L = tlr.shape[1]
    scale = (tlr.abs().sum(-1, keepdim=True) + base.abs()[:, None]).numpy()
    assert np.all(np.abs((ours_adv - theirs_adv).numpy()) <= 2 * L * F32_EPS * scale)
    assert np.all(np.abs((ours_ret - theirs_ret).numpy()) <= 2 * L * F32_EPS * scale)
    # The direct call with the bool mask, no conversion, agrees with the adapter.
    a, g = hadw.remax_tokens(tlr, bmask, base)
    torch.testing.assert_close(a, ours_adv, rtol=0, atol=0)


def test_remax_per_response_and_per_group(rng):
    r = rng.random(12)
    greedy = np.array([0.25, 0.5, 1.0])
    index = np.array([2, 0, 1, 0, 2, 2, 1, 0, 1, 2, 0, 1])
    per_group = hadw.remax(r, greedy, index=index)
    # index numbers groups by first appearance: 2 -> 0, 0 -> 1, 1 -> 2.
    first = {v: k for k, v in enumerate(dict.fromkeys(index.tolist()))}
    want = r - greedy[[first[v] for v in index]]
    np.testing.assert_array_equal(per_group, want)
    np.testing.assert_array_equal(hadw.remax(r, greedy[[first[v] for v in index]]), want)
    with pytest.raises(hadw.Error, match="baselines.size\\(\\) == layout.num_groups\\(\\)"):
        hadw.remax(r, r, index=index)
    with pytest.raises(TypeError, match="baselines: the dtype of rewards"):
        hadw.remax(r, r.astype(np.float32))


def test_verls_compute_advantage_runs_hadw_remax_and_hadw_gdpo_as_its_own(rng):
    # verl's trainer step (ray_trainer.compute_advantage) with adv_estimator = hadw_remax /
    # hadw_gdpo against the same step with verl's remax / gdpo. The trainer hands
    # reward_baselines to any registered estimator, but non_tensor_batch and batch only to the
    # one named "gdpo": there verl's own gdpo reads the K columns, hadw_gdpo gets one column
    # (token_level_rewards) and matches verl's gdpo called without them.
    from omegaconf import OmegaConf
    from verl import DataProto
    from verl.trainer.ppo.ray_trainer import compute_advantage

    import hadw.verl  # noqa: F401  (registers the adapters)

    tlr, mask, uids, keys, non_tensor, batch, _ = verl_batch(rng, [4] * 6, 2)
    base = torch.from_numpy((rng.random(len(uids)) < 0.5).astype(np.float32))
    config = OmegaConf.create({"gamma": 1.0, "lam": 1.0, "norm_adv_by_std_in_grpo": True,
                               "gdpo_reward_keys": keys})

    def proto():
        return DataProto.from_dict(
            tensors={"token_level_rewards": tlr.clone(), "response_mask": mask.clone(),
                     "reward_baselines": base.clone(), **batch},
            non_tensors=dict(non_tensor))

    for ours, theirs in (("hadw_remax", "remax"), ("hadw_gdpo", None)):
        got = compute_advantage(proto(), adv_estimator=ours, config=config)
        if theirs:
            want = compute_advantage(proto(), adv_estimator=theirs, config=config)
            want_adv, want_ret = want.batch["advantages"], want.batch["returns"]
        else:
            want_adv, want_ret = core_algos.compute_gdpo_outcome_advantage(tlr, mask, uids,
                                                                           config=config)
        # The numbers are held tightly above; this checks the plumbing: float32 rounding of a
        # reverse sum over L tokens (remax), of GDPO's chain (well inside it for these rewards).
        L = tlr.shape[1]
        scale = 4 * L * F32_EPS * (1 + np.abs(want_adv.numpy()).max())
        assert np.abs((got.batch["advantages"] - want_adv).numpy()).max() <= scale
        assert np.abs((got.batch["returns"] - want_ret).numpy()).max() <= scale
