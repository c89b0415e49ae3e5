"""hadw's token-level estimators against verl 0.9.1's own functions (the installed
verl/trainer/ppo/core_algos.py), run on the same random [B, L] inputs: GAE
(compute_gae_advantage_return), REINFORCE++ (compute_reinforce_plus_plus_outcome_advantage) and
the optimal token baseline (compute_optimal_token_baseline_advantage), directly and through the
hadw_* names registered in verl's registry by hadw.verl.

Masks have leading zeros (left padding), trailing zeros (right padding), interior holes (tool
observations), a fully masked row and a fully valid row. Every token is compared, masked ones
included (GAE's masked tokens carry verl's whitened value, not 0).

Tolerances. float64: 1e-12 of the largest magnitude: only the summation order differs.
float32: verl runs each scan in float32, one rounding per token step, and sums in float32 for
the whitening; hadw runs in double and rounds each stored token once. The error is then the
float32 rounding of a chain of at most L dependent steps, relative to the largest magnitude in
play: bound = L * eps32 * max(1, max|verl|).
"""

import numpy as np
import pytest

import hadw
from conftest import peer

torch = peer("torch")
core_algos = peer("verl.trainer.ppo.core_algos")
hadw_verl = peer("hadw.verl")

F32_EPS = float(np.finfo(np.float32).eps)


def make_mask(rng, B, L):
    m = np.zeros((B, L), dtype=np.float64)
    for i in range(B):
        if i % 7 == 3:
            continue  # fully masked
        if i % 7 == 5:
            m[i] = 1  # fully valid
            continue
        lead, trail = rng.integers(0, L // 3 + 1, 2)
        m[i, lead:L - trail] = rng.random(L - trail - lead) < 0.8  # interior holes
    return m


def inputs(rng, B, L, dtype):
    t = lambda x: torch.tensor(x, dtype=dtype)  # noqa: E731
    r = rng.uniform(-1, 1, (B, L))
    r[rng.random((B, L)) < 0.6] = 0  # sparse, outcome-like rewards
    return t(r), t(rng.uniform(-2, 2, (B, L))), t(make_mask(rng, B, L))


def assert_close(ours, theirs, dtype, L):
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    assert ours.shape == theirs.shape and np.all(np.isfinite(theirs))
    scale = max(1.0, float(np.abs(theirs).max(initial=0.0)))
    tol = 1e-12 * scale if dtype == torch.float64 else L * F32_EPS * scale
    err = float(np.abs(ours - theirs).max(initial=0.0))
    assert err <= tol, f"max error {err:.3g} > {tol:.3g}"


GAMMA_LAM = [(1.0, 1.0), (0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (0.99, 0.95)]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("gamma,lam", GAMMA_LAM)
def test_gae_matches_verl(rng, dtype, gamma, lam):
    B, L = 32, 48
    r, v, m = inputs(rng, B, L, dtype)
    theirs_adv, theirs_ret = core_algos.compute_gae_advantage_return(r, v, m, gamma, lam)
    adv, ret = hadw.gae(r, v, m.bool(), gamma, lam)
    assert adv.dtype == dtype and ret.dtype == dtype
    assert_close(adv, theirs_adv, dtype, L)
    assert_close(ret, theirs_ret, dtype, L)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("gamma", [0.0, 0.5, 0.99, 1.0])
def test_reinforce_pp_matches_verl(rng, dtype, gamma):
    B, L = 40, 37
    r, _, m = inputs(rng, B, L, dtype)
    theirs_adv, theirs_ret = core_algos.compute_reinforce_plus_plus_outcome_advantage(
        r, m, config=_Config(gamma))
    adv, ret = hadw.reinforce_pp(r, m.bool(), gamma)
    assert_close(adv, theirs_adv, dtype, L)
    assert_close(ret, theirs_ret, dtype, L)
    assert torch.all(adv[m == 0] == 0) and torch.all(ret[m == 0] == 0)


class _Config:
    """verl reads config.gamma as an attribute (AlgoConfig); the hadw adapter reads either."""

    def __init__(self, gamma):
        self.gamma = gamma

    def get(self, key, default=None):
        return getattr(self, key, default)


def otb_inputs(rng, dtype):
    # Groups of 1..6 responses in shuffled order; lengths varied so that some groups have a
    # unique longest response (handle_zero_tail acts) and some a tie.
    sizes = [1, 2, 3, 4, 6, 5, 2, 4]
    uids = np.array([f"p{k}" for k, s in enumerate(sizes) for _ in range(s)], dtype=object)
    uids = uids[rng.permutation(len(uids))]
    B, L = len(uids), 24
    r, _, m = inputs(rng, B, L, dtype)
    lp = rng.uniform(-5, 0, (B, L))
    pi = np.exp(lp)  # sum_v pi_v^2 lies in [pi^2, pi^2 + (1 - pi)^2]: so w_t >= 0, as in a model
    sp = torch.tensor(pi ** 2 + rng.uniform(0, 1, (B, L)) * (1 - pi) ** 2, dtype=dtype)
    lp = torch.tensor(lp, dtype=dtype)
    rho = torch.tensor(rng.uniform(0.5, 2, (B, L)), dtype=dtype)
    return r, m, uids, lp, sp, rho, L


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("tail", [True, False])
@pytest.mark.parametrize("with_is", [False, True])
def test_optimal_token_baseline_matches_verl(rng, dtype, tail, with_is):
    r, m, uids, lp, sp, rho, L = otb_inputs(rng, dtype)
    rho = rho if with_is else None
    theirs_adv, theirs_ret = core_algos.compute_optimal_token_baseline_advantage(
        r, m, uids, lp, sp, rollout_is_weights=rho, handle_zero_tail=tail)
    adv, ret = hadw.optimal_token_baseline(r, m.bool(), lp, sp, index=uids, is_weights=rho,
                                           handle_zero_tail=tail)
    assert_close(adv, theirs_adv, dtype, L)
    assert_close(ret, theirs_ret, dtype, L)


def test_registered_names_run_verls_computation(rng):
    B, L = 24, 20
    r, v, m = inputs(rng, B, L, torch.float32)
    m_int = m.to(torch.int64)  # verl's trainer mask dtype
    fn = core_algos.get_adv_estimator_fn("hadw_gae")
    assert fn is hadw_verl.compute_hadw_gae_advantage_return
    ours = fn(token_level_rewards=r, values=v, response_mask=m_int, gamma=0.9, lam=0.8)
    theirs = core_algos.compute_gae_advantage_return(r, v, m_int, 0.9, 0.8)
    for o, t in zip(ours, theirs):
        assert o.dtype == t.dtype
        assert_close(o, t, torch.float32, L)
    with pytest.raises(ValueError, match="values"):  # what verl's trainer would call it with
        fn(token_level_rewards=r, response_mask=m_int, config=_Config(1.0), index=None)

    fn = core_algos.get_adv_estimator_fn("hadw_reinforce_plus_plus")
    ours = fn(token_level_rewards=r, response_mask=m_int, config=_Config(0.95))
    theirs = core_algos.compute_reinforce_plus_plus_outcome_advantage(r, m_int,
                                                                      config=_Config(0.95))
    for o, t in zip(ours, theirs):
        assert_close(o, t, torch.float32, L)

    r, m, uids, lp, sp, rho, L = otb_inputs(rng, torch.float32)
    fn = core_algos.get_adv_estimator_fn("hadw_optimal_token_baseline")
    kw = dict(token_level_rewards=r, response_mask=m, index=uids, old_log_probs=lp,
              sum_pi_squared=sp, rollout_is_weights=rho)
    for o, t in zip(fn(**kw), core_algos.compute_optimal_token_baseline_advantage(**kw)):
        assert_close(o, t, torch.float32, L)
    with pytest.raises(ValueError, match="sum_pi_squared"):
        fn(token_level_rewards=r, response_mask=m, index=uids, old_log_probs=lp)


def test_numpy_inputs_and_out_buffers(rng):
    B, L = 6, 9
    r, v, m = (x.numpy() for x in inputs(rng, B, L, torch.float64))
    m = np.ascontiguousarray(m.astype(bool))
    adv, ret = np.full((B, L), -7.0), np.full((B, L), -7.0)
    got = hadw.gae(r, v, m, 0.9, 0.7, out=(adv, ret))
    assert got[0] is adv and got[1] is ret
    theirs = core_algos.compute_gae_advantage_return(torch.tensor(r), torch.tensor(v),
                                                     torch.tensor(m, dtype=torch.float64),
                                                     0.9, 0.7)
    assert_close(adv, theirs[0], torch.float64, L)
    a2, r2 = hadw.reinforce_pp(r, m, 1.0)
    assert isinstance(a2, np.ndarray) and a2.dtype == np.float64


def test_bad_input_is_refused_by_name_and_nothing_is_written(rng):
    B, L = 4, 5
    r, v, m = (x.numpy() for x in inputs(rng, B, L, torch.float64))
    mb = np.ones((B, L), dtype=bool)
    adv, ret = np.full((B, L), -7.0), np.full((B, L), -7.0)
    with pytest.raises(TypeError, match="mask: bool or uint8 required"):
        hadw.gae(r, v, m, out=(adv, ret))  # a float mask: convert (hadw selects, verl multiplies)
    with pytest.raises(hadw.Error, match=r"gamma in \[0, 1\] required"):
        hadw.gae(r, v, mb, 1.5, out=(adv, ret))
    bad = r.copy()
    bad[2, 3] = np.nan
    with pytest.raises(hadw.Error, match=r"rewards\[2, 3\] finite required"):
        hadw.reinforce_pp(bad, mb, out=(adv, ret))
    one = np.zeros((B, L), dtype=bool)
    one[1, 1] = True
    with pytest.raises(hadw.Error, match="at least 2 valid tokens"):
        hadw.reinforce_pp(r, one, out=(adv, ret))
    with pytest.raises(ValueError, match="values.shape"):
        hadw.gae(r, v[:, :3].copy(), mb, out=(adv, ret))
    assert np.all(adv == -7.0) and np.all(ret == -7.0)
