"""The fused Python calls (hadw.Step, estimate_and_reweight, estimate_reweight_broadcast): equal to
the stages one by one and to the paper's formula, atomic on error, and the same bits from every
build of the kernels (HADW_ISA)."""

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import hadw
from conftest import peer, random_batch

HERE = Path(__file__).resolve().parent


def chained(name, r, anchor, G, *, mask=None, lengths=None, rw=None, est=None):
    """estimate() then reweight(), the unfused stages."""
    adv = hadw.estimate(name, r, group_size=G, mask=mask, lengths=lengths, **(est or {}))
    stats = hadw.reweight(adv, r, anchor, group_size=G, mask=mask, **(rw or {}))
    return adv, stats


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(hadw.ESTIMATORS))
def test_fused_equals_the_stages_bit_for_bit(rng, dtype, name):
    G = 8
    r = random_batch(rng, 37, G, "uniform").astype(dtype)
    lengths = rng.integers(1, 100, len(r)).astype(np.int64)
    mask = (rng.random(len(r)) < 0.9).astype(np.uint8)
    rw = {"lambda_scale": 1.3, "timing": "posterior"}
    for m in (None, mask):
        a1, a2 = hadw.DifficultyAnchor(), hadw.DifficultyAnchor()
        for _ in range(3):
            ref, ref_stats = chained(name, r, a2, G, mask=m, lengths=lengths, rw=rw)
            adv, stats = hadw.estimate_and_reweight(name, r, a1, group_size=G, mask=m,
                                                    lengths=lengths, **rw)
            assert adv.dtype == dtype
            np.testing.assert_array_equal(adv, ref)
            assert stats == ref_stats
        assert a1 == a2


def test_fused_equals_the_papers_formula(rng):
    """Independent of hadw's stages: GRPO by a naive loop, then eq. 13-16 with the prior."""
    G = 8
    r = random_batch(rng, 32, G, "binary").astype(np.float64)
    anchor = hadw.DifficultyAnchor("fixed", initial_belief=0.35)
    adv, stats = hadw.Step("grpo", lambda_scale=1.4)(r, anchor, group_size=G)
    g = r.reshape(-1, G)
    std = g.std(axis=1, ddof=1)
    base = np.where((g.max(1) == g.min(1))[:, None], 0.0,
                    (g - g.mean(1, keepdims=True)) / (std[:, None] + 1e-6)).ravel()
    diff = g.mean(axis=1).repeat(G) - 0.35
    expected = base * 1.4 * np.exp(-np.sign(base) * np.sign(diff) * np.abs(diff))
    np.testing.assert_allclose(adv, expected, rtol=1e-13, atol=1e-15)
    assert stats["hadw/weighting_belief"] == 0.35


def test_token_calls_equal_broadcast_of_the_fused_result(rng):
    G, L = 4, 9
    r = random_batch(rng, 16, G, "levels")
    token_mask = rng.random((len(r), L)) < 0.6
    token_lengths = rng.integers(0, L + 1, len(r)).astype(np.int64)
    a0, a1, a2 = hadw.DifficultyAnchor(), hadw.DifficultyAnchor(), hadw.DifficultyAnchor()
    adv, st0 = hadw.estimate_and_reweight("grpo", r, a0, group_size=G)
    per = np.empty_like(r)
    tok, st1 = hadw.estimate_reweight_broadcast("grpo", r, a1, token_mask, group_size=G,
                                                advantages=per)
    np.testing.assert_array_equal(per, adv)
    np.testing.assert_array_equal(tok, np.where(token_mask, adv[:, None], 0))
    assert st1 == st0
    step = hadw.Step("grpo")
    tok2, st2 = step.tokens(r, a2, token_lengths=token_lengths, L=L, group_size=G)
    valid = np.arange(L)[None, :] < token_lengths[:, None]
    np.testing.assert_array_equal(tok2, np.where(valid, adv[:, None], 0))
    assert np.signbit(tok2[~valid]).sum() == 0  # exactly +0 where invalid
    assert st2 == st0 and a0 == a1 == a2


def test_torch_in_torch_out_in_place(rng):
    torch = peer("torch")
    G = 8
    r = torch.from_numpy(random_batch(rng, 8, G, "binary"))
    out = torch.empty_like(r)
    tokens = torch.empty(len(r), 5)
    mask = torch.rand(len(r), 5) < 0.5
    a1, a2 = hadw.DifficultyAnchor(), hadw.DifficultyAnchor()
    res, _ = hadw.estimate_and_reweight("grpo", r, a1, group_size=G, out=out)
    assert res is out
    tok, _ = hadw.estimate_reweight_broadcast("grpo", r, a2, mask, group_size=G,
                                              token_out=tokens)
    assert tok is tokens and tokens.data_ptr() == tok.data_ptr()
    torch.testing.assert_close(tokens, out[:, None] * mask, rtol=0, atol=0)



def test_torch_outputs_and_autograd():
    """Inputs that require grad are read (detached); an output that requires grad is refused, as
    torch's own in-place ops refuse it; a written output's version moves on, so autograd refuses
    a backward pass through values it saved before the write; a negated view is read with its
    sign."""
    torch = peer("torch")
    r = torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0])
    ref = hadw.estimate("grpo", r, group_size=4)
    x = r.clone().requires_grad_()
    assert torch.equal(hadw.estimate("grpo", x, group_size=4), ref)
    with pytest.raises(ValueError, match="out: a tensor that requires grad cannot be written"):
        hadw.estimate_and_reweight("grpo", r, hadw.DifficultyAnchor(), group_size=4,
                                   out=torch.zeros(8, requires_grad=True))
    t = torch.ones(8, requires_grad=True)
    buf = torch.zeros(8)
    y = (t * buf).sum()  # autograd saved buf for the backward pass
    hadw.estimate("grpo", r, group_size=4, out=buf)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()
    neg = (-r)._neg_view()  # -(-r), stored as -r with a pending negation
    assert torch.equal(hadw.estimate("grpo", neg, group_size=4), ref)


def test_overlapping_outputs_are_refused():
    buf = np.zeros(16, dtype=np.float32)
    buf[:8] = [1, 0, 0, 1, 1, 1, 0, 1]
    ref = hadw.estimate("grpo", buf[:8].copy(), group_size=4)
    in_place = buf[:8]  # the very same array: an in-place estimate, allowed
    np.testing.assert_array_equal(hadw.estimate("grpo", in_place, group_size=4, out=in_place),
                                  ref)
    buf[:8] = [1, 0, 0, 1, 1, 1, 0, 1]
    a = hadw.DifficultyAnchor()
    with pytest.raises(ValueError, match="out and rewards must not overlap"):
        hadw.estimate("grpo", buf[:8], group_size=4, out=buf[2:10])
    with pytest.raises(ValueError, match="out and rewards must not overlap"):
        hadw.estimate_and_reweight("grpo", buf[:8], a, group_size=4, out=buf[4:12])
    tok = np.zeros(8 * 3, dtype=np.float32)
    with pytest.raises(ValueError, match="token_out and rewards must not overlap"):
        hadw.estimate_reweight_broadcast("grpo", tok[:8], a, token_lengths=np.ones(8, np.int64),
                                         token_out=tok.reshape(8, 3), group_size=4)
    adv = np.zeros(8, dtype=np.float32)
    with pytest.raises(ValueError, match="out and advantages must not overlap"):
        hadw.broadcast_to_tokens(adv, lengths=np.ones(8, np.int64), out=adv.reshape(8, 1))
    with pytest.raises(ValueError, match="advantages and rewards must not overlap"):
        hadw.reweight(buf[:8], buf[:8], a, group_size=4)
    assert a.step == 0


def test_empty_and_read_only_arrays():
    empty = hadw.broadcast_to_tokens(np.zeros(0, np.float32), np.zeros((0, 5), bool))
    assert empty.shape == (0, 5)
    ro = np.zeros(8, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="out: a writable array required"):
        hadw.estimate("grpo", np.zeros(8, np.float32), group_size=4, out=ro)


def test_step_pickles_and_flags_are_bools(rng):
    import copy

    step = hadw.Step("rloo", compat="verl", lambda_scale=1.2, timing="posterior")
    twin = pickle.loads(pickle.dumps(step))
    r = random_batch(rng, 8, 4, "binary")
    a1, a2 = hadw.DifficultyAnchor(), hadw.DifficultyAnchor()
    np.testing.assert_array_equal(step(r, a1, group_size=4)[0], twin(r, a2, group_size=4)[0])
    assert copy.deepcopy(step)._step.timing == "posterior"
    with pytest.raises(TypeError, match="update_anchor: True or False required"):
        hadw.Step("grpo", update_anchor="false")
    with pytest.raises(TypeError, match="offsets: integers required"):
        hadw.estimate("grpo", r, offsets=[0, 4.5, 32])


# ------------------------------------------------------------------------------------------
# Atomic: a failing call writes nothing


def sentinel(n, L=None, dtype=np.float32):
    shape = (n,) if L is None else (n, L)
    return np.full(shape, 7.25, dtype=dtype)


@pytest.mark.parametrize("bad", ["reward_range", "nan_reward", "mask", "token_lengths"])
def test_a_failing_step_leaves_out_tokens_and_anchor_untouched(rng, bad):
    G, L = 4, 6
    r = random_batch(rng, 8, G, "binary")
    anchor = hadw.DifficultyAnchor()
    hadw.estimate_and_reweight("grpo", r, anchor, group_size=G)  # a step of history
    before = anchor.save()
    out, tok = sentinel(len(r)), sentinel(len(r), L)
    lengths = np.full(len(r), 3, dtype=np.int64)
    kw = {}
    if bad == "reward_range":  # only reweight's check fails: estimate alone would succeed
        r = r.copy()
        r[-1] = 2.0
    elif bad == "nan_reward":
        r = r.copy()
        r[5] = np.nan
    elif bad == "mask":
        kw["mask"] = np.zeros(len(r), dtype=bool)  # no valid response in the batch
    else:
        lengths[-1] = L + 1
    if bad != "token_lengths":  # (a check of the token stage only)
        with pytest.raises(hadw.Error):
            hadw.estimate_and_reweight("grpo", r, anchor, group_size=G, out=out, **kw)
    with pytest.raises(hadw.Error):
        hadw.estimate_reweight_broadcast("grpo", r, anchor, token_lengths=lengths,
                                         token_out=tok, advantages=out, group_size=G, **kw)
    assert (out == 7.25).all() and (tok == 7.25).all()
    assert anchor.save() == before


def test_bad_options_fail_before_any_call():
    with pytest.raises(hadw.Error, match="lambda_scale in"):
        hadw.Step("grpo", lambda_scale=float("nan"))
    with pytest.raises(hadw.Error, match="timing: 'prior' or 'posterior' required, got 'bogus'"):
        hadw.Step("grpo", timing="bogus")
    with pytest.raises(hadw.Error, match="reward_range low < high"):
        hadw.Step("grpo", reward_range=(1, 0))
    out = sentinel(8)
    with pytest.raises(hadw.Error, match="lambda_scale in"):
        hadw.estimate_and_reweight("grpo", np.zeros(8, np.float32), hadw.DifficultyAnchor(),
                                   group_size=4, out=out, lambda_scale=float("nan"))
    assert (out == 7.25).all()


def test_fused_errors_name_the_argument():
    r = np.zeros(8, dtype=np.float32)
    r[:3] = 1
    a = hadw.DifficultyAnchor()
    step = hadw.Step("grpo")
    with pytest.raises(TypeError, match="out: the dtype of rewards"):
        step(r, a, group_size=4, out=np.zeros(8))
    with pytest.raises(TypeError, match="token_out: the dtype of rewards"):
        step.tokens(r, a, np.ones((8, 3), bool), group_size=4, token_out=np.zeros((8, 3)))
    with pytest.raises(ValueError, match=r"token_mask.shape\[1\] == token_out.shape\[1\]"):
        step.tokens(r, a, np.ones((8, 3), bool), group_size=4,
                    token_out=np.zeros((8, 4), np.float32))
    with pytest.raises(TypeError, match="token_lengths: int64 required, got int32"):
        step.tokens(r, a, token_lengths=np.ones(8, np.int32), L=3, group_size=4)
    with pytest.raises(ValueError, match="exactly one of token_mask"):
        step.tokens(r, a, group_size=4)
    with pytest.raises(hadw.Error, match="lengths required"):
        hadw.Step("opo")(r, a, group_size=4)
    with pytest.raises(TypeError, match="anchor: a hadw.DifficultyAnchor required"):
        step(r, None, group_size=4)
    with pytest.raises(ValueError, match="group_size: a divisor"):
        step(r, a, group_size=3)


def test_step_keeps_its_options():
    step = hadw.Step("grpo", compat="trl", lambda_scale=1.2, timing="posterior",
                     reward_range=(-1, 1), warmup_steps=2)
    assert step.estimator.compat == "trl" and "eps=0.0001" in repr(step.estimator)
    assert step._step.lambda_scale == 1.2 and step._step.timing == "posterior"
    assert step._step.reward_range == (-1.0, 1.0) and step._step.warmup_steps == 2


# ------------------------------------------------------------------------------------------
# Builds of the kernels: chosen at import, forced by HADW_ISA, the same bits


def run_battery(isa):
    env = dict(os.environ, HADW_ISA=isa)
    out = subprocess.run([sys.executable, str(HERE / "isa_battery.py")], env=env,
                         capture_output=True, text=True, check=True).stdout.split()
    return out


def test_every_supported_build_gives_the_same_bits():
    info = hadw.build_info()
    assert info["isa"] == info["supported"][-1] or os.environ.get("HADW_ISA")
    if os.environ.get("HADW_REQUIRE_PEERS") == "1" and sys.platform == "linux" \
            and os.uname().machine == "x86_64":
        # the CI build has every x86-64 level; this machine runs at least v2
        assert info["built"] == ["baseline", "x86-64-v2", "x86-64-v3", "x86-64-v4"]
        assert "x86-64-v2" in info["supported"]
    digests = {}
    for isa in info["supported"]:
        name, digest = run_battery(isa)
        assert name == isa
        digests[isa] = digest
    assert len(set(digests.values())) == 1, digests


def test_hadw_isa_refuses_what_it_cannot_run():
    env = dict(os.environ, HADW_ISA="x86-64-v9")
    p = subprocess.run([sys.executable, "-c", "import hadw"], env=env, capture_output=True,
                       text=True)
    assert p.returncode != 0 and "HADW_ISA: one of baseline" in p.stderr
    unsupported = [i for i in hadw.build_info()["built"] if i not in hadw.build_info()["supported"]]
    for isa in unsupported:  # e.g. x86-64-v4 on a machine without AVX-512
        env = dict(os.environ, HADW_ISA=isa)
        p = subprocess.run([sys.executable, "-c", "import hadw"], env=env, capture_output=True,
                           text=True)
        assert p.returncode != 0 and "this CPU cannot run it" in p.stderr


def test_checkpoints_name_hadw_not_a_build():
    """A pickled anchor loads on a machine that runs another build of the kernels."""
    data = pickle.dumps(hadw.DifficultyAnchor("window_mean"))
    assert b"hadw\x94\x8c\x10DifficultyAnchor" in data and b"_core" not in data
    for isa in hadw.build_info()["supported"]:
        env = dict(os.environ, HADW_ISA=isa)
        code = ("import pickle, sys, hadw; a = pickle.loads(sys.stdin.buffer.read()); "
                "print(a.belief, hadw.build_info()['isa'])")
        p = subprocess.run([sys.executable, "-c", code], env=env, input=data,
                           capture_output=True, check=True)
        assert p.stdout.decode().split() == ["window_mean", isa]
