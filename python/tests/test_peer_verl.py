"""hadw against verl's own advantage estimators (verl/trainer/ppo/core_algos.py, the installed
package), with the compat 'verl' preset: equal to float32 rounding on random and edge batches.

verl's functions take token-level rewards [bs, L], a response mask [bs, L] and a uid per
response, and return token-level advantages; hadw gets the per-response scores (the row sums, as
verl forms them), the uids, and (for OPO and REINFORCE++-baseline) the token counts, then
broadcasts under the same mask.
"""

import numpy as np
import pytest

import hadw
from conftest import peer

torch = peer("torch")
core_algos = peer("verl.trainer.ppo.core_algos")

F32_EPS = float(np.finfo(np.float32).eps)


def assert_f32_close(ours, theirs, conditioning=0.0, ulps=16):
    """|ours - theirs| <= ulps float32 epsilons times (max(1, |theirs|) + conditioning).

    The two sides round differently (verl: float32 throughout; hadw: double, rounded once), and
    a difference of nearly equal rewards divided by a small std amplifies verl's float32 input
    rounding: `conditioning` (per row) is max|r| / s of the row's group, s the estimator's
    divisor, so the bound is the float32 rounding of the inputs propagated through the formula.
    """
    ours = np.asarray(ours, dtype=np.float64)
    theirs = np.asarray(theirs, dtype=np.float64)
    assert ours.shape == theirs.shape
    assert np.all(np.isfinite(theirs)), "the peer produced non-finite values"
    cond = np.asarray(conditioning, dtype=np.float64)
    if cond.ndim == 1 and theirs.ndim == 2:
        cond = cond[:, None]
    bound = ulps * F32_EPS * (np.maximum(1.0, np.abs(theirs)) + cond)
    excess = np.abs(ours - theirs) / bound
    worst = float(excess.max(initial=0.0))
    assert worst <= 1.0, f"max error {worst:.2f} x the float32 bound"


def conditioning(name, tlr, uids, eps=1e-6):
    """max|r| / s per response, s = the divisor of its group (see assert_f32_close)."""
    r = tlr.sum(-1).numpy().astype(np.float64)
    out = np.empty_like(r)
    centred = np.empty_like(r)
    groups = {u: np.flatnonzero(uids == u) for u in dict.fromkeys(uids)}
    for idx in groups.values():
        centred[idx] = r[idx] - (r[idx].mean() if len(idx) > 1 else 0.0)
    for idx in groups.values():
        big = np.abs(r[idx]).max()
        s = 1.0
        if name in ("grpo", "grpo_passk") and len(idx) > 1:
            s = r[idx].std(ddof=1) + eps
        elif name == "gpg":
            s = max(1, np.count_nonzero(r)) / len(r)
        elif name == "reinforce_pp_baseline":
            s = np.sqrt(centred.var(ddof=1) + 1e-8)
        out[idx] = big / s
    return out


def make_batch(rng, sizes, kind, L=12, shuffle=True):
    """A verl batch: groups of the given sizes with string uids in shuffled order, token-level
    rewards with the score on the last valid token (verl's reward managers put it there), and
    right-padded masks of random lengths (some rows empty)."""
    uids, scores, firsts = [], [], []
    for k, g in enumerate(sizes):
        firsts.append(len(uids))
        p = rng.random()
        if kind == "binary":
            s = (rng.random(g) < p).astype(np.float32)
        elif kind == "uniform":
            s = rng.random(g).astype(np.float32)
        elif kind == "levels":  # ties and all-equal groups
            s = (rng.integers(0, 3, g) / 2).astype(np.float32)
        elif kind == "all_equal":
            s = np.full(g, [0.0, 1.0, 0.5][k % 3], dtype=np.float32)
        elif kind == "signed":  # math_dapo-style rewards in [-1, 1]
            s = np.where(rng.random(g) < p, 1.0, -1.0).astype(np.float32)
        else:
            raise ValueError(kind)
        uids += [f"uid-{k}"] * g
        scores.append(s)
    scores = np.concatenate(scores)
    n = len(scores)
    lengths = rng.integers(1, L + 1, n)
    lengths[rng.random(n) < 0.1] = 0  # empty responses...
    lengths[firsts] = np.maximum(lengths[firsts], 1)  # ...but no all-empty group (verl: 0/0 in OPO)
    order = rng.permutation(n) if shuffle else np.arange(n)
    scores, uids, lengths = scores[order], np.array(uids, dtype=object)[order], lengths[order]
    mask = np.arange(L)[None, :] < lengths[:, None]
    tlr = np.zeros((n, L), dtype=np.float32)
    last = np.maximum(lengths - 1, 0)
    tlr[np.arange(n), last] = scores
    return torch.from_numpy(tlr), torch.from_numpy(mask.astype(np.float32)), uids


def hadw_tokens(name, tlr, mask, uids, **options):
    scores = tlr.sum(dim=-1)
    lengths = mask.sum(dim=-1).to(torch.int64)
    needs_lengths = name in ("opo", "reinforce_pp_baseline")
    adv = hadw.estimate(name, scores, index=uids, compat="verl",
                        lengths=lengths if needs_lengths else None, **options)
    return hadw.broadcast_to_tokens(adv, mask.to(torch.bool))


ESTIMATORS = [
    # (hadw name, verl function, extra verl kwargs, singleton groups allowed)
    ("grpo", "compute_grpo_outcome_advantage", {}, True),
    ("rloo", "compute_rloo_outcome_advantage", {}, True),
    # verl's second RLOO: a size-1 group gets 0 there (`* (c > 1)`), the raw reward in `rloo`.
    ("rloo_vectorized", "compute_rloo_vectorized_outcome_advantage", {}, True),
    ("reinforce_pp_baseline", "compute_reinforce_plus_plus_baseline_outcome_advantage", {}, True),
    ("opo", "compute_opo_outcome_advantage", {}, True),
    ("gpg", "compute_gpg_outcome_advantage", {}, True),
    ("grpo_passk", "compute_grpo_passk_outcome_advantage",
     {"config": {"norm_adv_by_std_in_grpo": True}}, False),
]
KINDS = ["binary", "uniform", "levels", "all_equal", "signed"]


@pytest.mark.parametrize("name,fn,kwargs,singletons", ESTIMATORS, ids=[e[0] for e in ESTIMATORS])
@pytest.mark.parametrize("kind", KINDS)
def test_uniform_groups_match_verl(rng, name, fn, kwargs, singletons, kind):
    for G in (2, 5, 8):
        tlr, mask, uids = make_batch(rng, [G] * 24, kind)
        theirs, returns = getattr(core_algos, fn)(tlr.clone(), mask, uids, **kwargs)
        assert torch.equal(theirs, returns) or returns is theirs
        assert_f32_close(hadw_tokens(name, tlr, mask, uids), theirs, conditioning(name, tlr, uids))


@pytest.mark.parametrize("name,fn,kwargs,singletons", ESTIMATORS, ids=[e[0] for e in ESTIMATORS])
@pytest.mark.parametrize("kind", ["binary", "uniform", "levels"])
def test_ragged_groups_match_verl(rng, name, fn, kwargs, singletons, kind):
    # Ragged groups (DAPO filtering), with size-1 groups where verl defines them (mean 0, std 1).
    low = 1 if singletons else 2
    sizes = list(rng.integers(low, 9, 40))
    if singletons:
        sizes[:3] = [1, 1, 1]
    tlr, mask, uids = make_batch(rng, sizes, kind)
    theirs, _ = getattr(core_algos, fn)(tlr.clone(), mask, uids, **kwargs)
    assert_f32_close(hadw_tokens(name, tlr, mask, uids), theirs, conditioning(name, tlr, uids))


def test_grpo_without_std_matches_verl_dr_grpo(rng):
    tlr, mask, uids = make_batch(rng, list(rng.integers(1, 9, 30)), "uniform")
    theirs, _ = core_algos.compute_grpo_outcome_advantage(tlr.clone(), mask, uids,
                                                          norm_adv_by_std_in_grpo=False)
    assert_f32_close(hadw_tokens("dr_grpo", tlr, mask, uids), theirs,
                     conditioning("dr_grpo", tlr, uids))


def test_grpo_passk_without_std_matches_verl(rng):
    tlr, mask, uids = make_batch(rng, [6] * 20, "uniform")
    theirs, _ = core_algos.compute_grpo_passk_outcome_advantage(
        tlr.clone(), mask, uids, config={"norm_adv_by_std_in_grpo": False})
    assert_f32_close(hadw_tokens("grpo_passk", tlr, mask, uids, normalise=False), theirs,
                     conditioning("dr_grpo", tlr, uids))


def test_grpo_with_its_own_epsilon_matches_verl(rng):
    # verl's epsilon argument (1e-6 by default); a large one makes a mismatch visible.
    tlr, mask, uids = make_batch(rng, [4] * 16, "uniform")
    theirs, _ = core_algos.compute_grpo_outcome_advantage(tlr.clone(), mask, uids, epsilon=0.25)
    assert_f32_close(hadw_tokens("grpo", tlr, mask, uids, eps=0.25), theirs,
                     conditioning("grpo", tlr, uids, eps=0.25))


def test_grpo_passk_rejects_singletons_like_verl(rng):
    tlr, mask, uids = make_batch(rng, [1, 4, 4], "binary")
    with pytest.raises(ValueError):
        core_algos.compute_grpo_passk_outcome_advantage(
            tlr.clone(), mask, uids, config={"norm_adv_by_std_in_grpo": True})
    with pytest.raises(hadw.Error, match="single valid response"):
        hadw_tokens("grpo_passk", tlr, mask, uids)


def test_rloo_and_rloo_vectorized_differ_only_on_size1_groups_as_in_verl(rng):
    tlr, mask, uids = make_batch(rng, [1, 4, 1, 3], "uniform")
    loo, _ = core_algos.compute_rloo_outcome_advantage(tlr.clone(), mask, uids)
    vec, _ = core_algos.compute_rloo_vectorized_outcome_advantage(tlr.clone(), mask, uids)
    lone = np.isin(uids, ["uid-0", "uid-2"])
    raw = tlr.sum(-1, keepdim=True) * mask
    assert torch.all(vec[lone] == 0) and torch.equal(loo[lone], raw[lone])
    assert_f32_close(hadw_tokens("rloo", tlr, mask, uids), loo, conditioning("rloo", tlr, uids))
    assert_f32_close(hadw_tokens("rloo_vectorized", tlr, mask, uids), vec,
                     conditioning("rloo", tlr, uids))


def test_opo_group_of_empty_responses_is_finite_where_verl_gives_nan(rng):
    # A group whose responses all have length 0: verl's length-weighted baseline is 0 / 0 = NaN,
    # and NaN * mask 0 stays NaN in its token advantages (and in a masked loss). hadw takes the
    # unweighted group mean there (docs/math.md): finite, and 0 on every (masked) token.
    tlr, mask, uids = make_batch(rng, [3, 4], "uniform")
    empty = uids == "uid-0"
    mask[empty] = 0
    theirs, _ = core_algos.compute_opo_outcome_advantage(tlr.clone(), mask, uids)
    assert torch.isnan(theirs[empty]).all()
    assert_f32_close(hadw_tokens("opo", tlr, mask, uids)[~empty], theirs[~empty],
                     conditioning("opo", tlr, uids)[~empty])
    scores = tlr.sum(-1).numpy().astype(np.float64)
    ours = hadw.estimate("opo", scores, index=uids, compat="verl", lengths=mask.sum(-1).long())
    assert np.allclose(ours[empty], scores[empty] - scores[empty].mean(), rtol=0, atol=1e-15)
    assert torch.all(hadw_tokens("opo", tlr, mask, uids)[empty] == 0)


@pytest.mark.parametrize("valid_tokens", [0, 1])
def test_reinforce_pp_baseline_without_a_spread_gives_0_where_verl_raises(rng, valid_tokens):
    # verl's masked_var raises ValueError on a mask summing to 0 or 1 (no unbiased variance);
    # hadw's whitening has no spread there either and gives every token 0 (docs/math.md: an
    # evaluation or a heavily truncated batch must not crash the trainer).
    tlr, mask, uids = make_batch(rng, [2, 3], "uniform")
    mask[:] = 0
    if valid_tokens:
        mask[0, 0] = 1
    with pytest.raises(ValueError, match="mask"):
        core_algos.compute_reinforce_plus_plus_baseline_outcome_advantage(tlr.clone(), mask, uids)
    assert torch.all(hadw_tokens("reinforce_pp_baseline", tlr, mask, uids) == 0)


# -------------------------------------------------------------------------------------------
# The drop-in adapter, hadw.verl


def test_adapter_is_registered_in_verl():
    import hadw.verl as hv

    assert core_algos.get_adv_estimator_fn("hadw_grpo") is hv.compute_hadw_grpo_outcome_advantage


@pytest.mark.parametrize("verl_name,fn,kwargs,_", ESTIMATORS, ids=[e[0] for e in ESTIMATORS])
def test_adapter_without_reweighting_equals_verl(rng, verl_name, fn, kwargs, _):
    import hadw.verl as hv

    name = {"reinforce_pp_baseline": "reinforce_plus_plus_baseline"}.get(verl_name, verl_name)
    ours_fn = hv.make_outcome_advantage(name, reweight=False)
    tlr, mask, uids = make_batch(rng, [8] * 16, "binary")
    theirs, _ = getattr(core_algos, fn)(tlr.clone(), mask, uids, **kwargs)
    ours, returns = ours_fn(tlr, mask, uids, **kwargs)
    assert ours is returns and ours.dtype == theirs.dtype and ours.shape == theirs.shape
    assert_f32_close(ours, theirs, conditioning(verl_name, tlr, uids))


def test_hadw_grpo_is_verl_grpo_times_phi(rng):
    # HA-DW by hand (paper eq. 13-16): p̂ = group mean reward, C = the anchor's prior, D =
    # -sgn(A) sgn(p̂ - C), M = |p̂ - C|, Phi = lambda exp(D M).
    import hadw.verl as hv

    anchor = hadw.DifficultyAnchor("fixed", initial_belief=0.3)
    fn = hv.make_outcome_advantage("grpo", anchor=anchor, lambda_scale=1.3)
    tlr, mask, uids = make_batch(rng, [8] * 32, "binary")
    base, _ = core_algos.compute_grpo_outcome_advantage(tlr.clone(), mask, uids)
    ours, _ = fn(tlr, mask, uids, config=None)
    scores = tlr.sum(-1).numpy().astype(np.float64)
    p_hat = {u: scores[uids == u].mean() for u in set(uids)}
    row_adv = base.numpy()[np.arange(len(uids)), np.argmax(mask.numpy(), axis=1)]
    expected = base.numpy().astype(np.float64).copy()
    for i, u in enumerate(uids):
        diff = p_hat[u] - 0.3
        d = -np.sign(row_adv[i]) * np.sign(diff)
        expected[i] *= 1.3 * np.exp(d * abs(diff))
    assert_f32_close(ours, expected, 1.3 * np.e * conditioning("grpo", tlr, uids))
    assert fn.last_stats["hadw/prior"] == 0.3 and fn.last_stats["hadw/step"] == 1


# -------------------------------------------------------------------------------------------
# The adapter on inputs where verl's own rules decide: which flag wins, fractional masks,
# integer rewards, an empty batch.


@pytest.mark.parametrize("argument", [None, True, False])
@pytest.mark.parametrize("config", [None, {"norm_adv_by_std_in_grpo": False},
                                    {"norm_adv_by_std_in_grpo": True}])
def test_adapter_grpo_std_flag_follows_verl(rng, argument, config):
    # verl's grpo follows its argument (default True) and never reads the config.
    import hadw.verl as hv

    tlr, mask, uids = make_batch(rng, [6] * 12, "uniform")
    kwargs = {} if argument is None else {"norm_adv_by_std_in_grpo": argument}
    theirs, _ = core_algos.compute_grpo_outcome_advantage(tlr.clone(), mask, uids, config=config,
                                                          **kwargs)
    ours, _ = hv.make_outcome_advantage("grpo", reweight=False)(tlr, mask, uids, config=config,
                                                                 **kwargs)
    normalised = argument is not False
    assert_f32_close(ours, theirs, conditioning("grpo" if normalised else "dr_grpo", tlr, uids))
    # In verl's trainer, its grpo gets the config's flag as the argument (ray_trainer.py); the
    # registered hadw_grpo gets only the config and reads the flag there.
    if argument is None and config is not None:
        trainer, _ = core_algos.compute_grpo_outcome_advantage(
            tlr.clone(), mask, uids, norm_adv_by_std_in_grpo=config["norm_adv_by_std_in_grpo"])
        ours, _ = hv.make_outcome_advantage("grpo", reweight=False, norm_from_config=True)(
            tlr, mask, uids, config=config)
        flag = config["norm_adv_by_std_in_grpo"]
        assert_f32_close(ours, trainer, conditioning("grpo" if flag else "dr_grpo", tlr, uids))


@pytest.mark.parametrize("argument", [None, True, False])
@pytest.mark.parametrize("flag", [True, False])
def test_adapter_grpo_passk_std_flag_follows_verl(rng, argument, flag):
    # verl's grpo_passk follows the config's flag, ignores the argument, asserts a config.
    import hadw.verl as hv

    tlr, mask, uids = make_batch(rng, [6] * 12, "uniform")
    kwargs = {} if argument is None else {"norm_adv_by_std_in_grpo": argument}
    config = {"norm_adv_by_std_in_grpo": flag}
    theirs, _ = core_algos.compute_grpo_passk_outcome_advantage(tlr.clone(), mask, uids,
                                                                config=config, **kwargs)
    fn = hv.make_outcome_advantage("grpo_passk", reweight=False)
    ours, _ = fn(tlr, mask, uids, config=config, **kwargs)
    assert_f32_close(ours, theirs, conditioning("grpo_passk" if flag else "dr_grpo", tlr, uids))
    with pytest.raises(AssertionError):
        core_algos.compute_grpo_passk_outcome_advantage(tlr.clone(), mask, uids, **kwargs)
    with pytest.raises(ValueError, match="config: verl's grpo_passk .* requires one"):
        fn(tlr, mask, uids, **kwargs)


@pytest.mark.parametrize("verl_name,fn,kwargs,_", ESTIMATORS, ids=[e[0] for e in ESTIMATORS])
@pytest.mark.parametrize("reweight", [False, True])
def test_adapter_fractional_mask_multiplies_as_verl(rng, verl_name, fn, kwargs, _, reweight):
    # verl returns scores * response_mask: a mask value of 0.5 halves that token's advantage.
    import hadw.verl as hv

    name = {"reinforce_pp_baseline": "reinforce_plus_plus_baseline"}.get(verl_name, verl_name)
    tlr, mask, uids = make_batch(rng, [8] * 16, "binary")
    weights = mask * torch.from_numpy(rng.choice([0.25, 0.5, 1.0, 2.0], mask.shape)).float()
    anchor = hadw.DifficultyAnchor("fixed", initial_belief=0.4)
    ours_fn = hv.make_outcome_advantage(name, reweight=reweight, anchor=anchor)
    if verl_name in ("opo", "reinforce_pp_baseline"):  # hadw counts their tokens as integers
        with pytest.raises(ValueError, match="response_mask: 0 or 1 required"):
            ours_fn(tlr, weights, uids, **kwargs)
        assert anchor.step == 0
        return
    ours, _ = ours_fn(tlr, weights, uids, **kwargs)
    binary, _ = ours_fn(tlr, mask, uids, **kwargs)  # under the 0/1 mask (a fixed belief: same Phi)
    torch.testing.assert_close(ours, binary * weights, rtol=0, atol=0)
    if not reweight:
        theirs, _ = getattr(core_algos, fn)(tlr.clone(), weights, uids, **kwargs)
        assert_f32_close(ours, theirs, 2 * conditioning(verl_name, tlr, uids))  # weights <= 2


@pytest.mark.parametrize("verl_name,fn,kwargs,_", ESTIMATORS, ids=[e[0] for e in ESTIMATORS])
def test_adapter_refuses_integer_rewards_as_verl_does(rng, verl_name, fn, kwargs, _):
    import hadw.verl as hv

    name = {"reinforce_pp_baseline": "reinforce_plus_plus_baseline"}.get(verl_name, verl_name)
    tlr = torch.tensor([[0, 1], [0, 0], [1, 0], [0, 1]], dtype=torch.int64)
    mask = torch.ones(4, 2)
    uids = np.array(["a", "a", "b", "b"], dtype=object)
    # verl's opo runs on integers (and truncates its baseline); its rloo_vectorized promotes them
    # to float64. hadw refuses them for every estimator: an integer tensor here is a caller's bug
    # that truncated the scores already.
    if verl_name not in ("opo", "rloo_vectorized"):
        with pytest.raises((NotImplementedError, RuntimeError)):
            getattr(core_algos, fn)(tlr.clone(), mask, uids, **kwargs)
    anchor = hadw.DifficultyAnchor()
    with pytest.raises(TypeError, match="token_level_rewards: a floating-point tensor required, "
                                        "got torch.int64"):
        hv.make_outcome_advantage(name, anchor=anchor)(tlr, mask, uids, **kwargs)
    assert anchor.step == 0


@pytest.mark.parametrize("verl_name,fn,kwargs,_", ESTIMATORS, ids=[e[0] for e in ESTIMATORS])
@pytest.mark.parametrize("dtypes", [(torch.float32, torch.float32), (torch.bfloat16, torch.int64),
                                    (torch.float64, torch.bool)])
def test_adapter_empty_batch_as_verl(verl_name, fn, kwargs, _, dtypes):
    import hadw.verl as hv

    name = {"reinforce_pp_baseline": "reinforce_plus_plus_baseline"}.get(verl_name, verl_name)
    tlr = torch.zeros(0, 7, dtype=dtypes[0])
    mask = torch.zeros(0, 7, dtype=dtypes[1])
    uids = np.array([], dtype=object)
    anchor = hadw.DifficultyAnchor()
    ours_fn = hv.make_outcome_advantage(name, anchor=anchor)
    if verl_name == "reinforce_pp_baseline":  # verl's masked_whiten raises on no tokens
        with pytest.raises(ValueError):
            getattr(core_algos, fn)(tlr.clone(), mask, uids, **kwargs)
        with pytest.raises(ValueError, match="response_mask: at least one valid token"):
            ours_fn(tlr, mask, uids, **kwargs)
        return
    theirs, _ = getattr(core_algos, fn)(tlr.clone(), mask, uids, **kwargs)
    ours, returns = ours_fn(tlr, mask, uids, **kwargs)
    assert ours is returns and ours.shape == theirs.shape and ours.dtype == theirs.dtype
    assert anchor.step == 0 and ours_fn.last_stats is None


def test_adapter_result_dtype_is_verls(rng):
    # verl returns scores * response_mask: bfloat16 rewards under a float32 mask give float32.
    import hadw.verl as hv

    tlr, mask, uids = make_batch(rng, [4] * 8, "binary")
    for r_dtype, m_dtype in ((torch.bfloat16, torch.float32), (torch.float32, torch.bool),
                             (torch.bfloat16, torch.int64), (torch.float32, torch.float64)):
        theirs, _ = core_algos.compute_grpo_outcome_advantage(tlr.to(r_dtype), mask.to(m_dtype),
                                                              uids)
        ours, _ = hv.make_outcome_advantage("grpo")(tlr.to(r_dtype), mask.to(m_dtype), uids)
        assert ours.dtype == theirs.dtype, (r_dtype, m_dtype)
