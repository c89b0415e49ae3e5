"""The hadw Python surface: naive references, layouts, errors naming the argument, the anchor's
checkpoint round trips, zero-copy (by address), and bit equality with the C++ API."""

import os
import pickle
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import hadw
from conftest import random_batch

REPO = Path(__file__).resolve().parents[2]


def naive_grpo(r, G, eps=1e-6):
    out = np.empty(len(r))
    for k in range(0, len(r), G):
        g = r[k:k + G].astype(np.float64)
        out[k:k + G] = 0.0 if g.min() == g.max() else (g - g.mean()) / (g.std(ddof=1) + eps)
    return out


def naive_rloo(r, G):
    out = np.empty(len(r))
    for k in range(0, len(r), G):
        g = r[k:k + G].astype(np.float64)
        out[k:k + G] = [g[i] - np.delete(g, i).mean() for i in range(G)]
    return out


# ------------------------------------------------------------------------------------------
# Values


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_grpo_and_rloo_equal_naive_loops(rng, dtype):
    r = random_batch(rng, 64, 8, "uniform").astype(dtype)
    tol = 2e-6 if dtype == np.float32 else 1e-12
    adv = hadw.estimate("grpo", r, group_size=8)
    assert adv.dtype == dtype
    np.testing.assert_allclose(adv, naive_grpo(r, 8), rtol=tol, atol=tol)
    np.testing.assert_allclose(hadw.estimate("rloo", r, group_size=8), naive_rloo(r, 8),
                               rtol=tol, atol=tol)


def test_index_offsets_and_group_size_agree(rng):
    r = random_batch(rng, 16, 4, "binary")
    by_size = hadw.estimate("grpo", r, group_size=4)
    by_offsets = hadw.estimate("grpo", r, offsets=np.arange(0, 65, 4))
    uids = np.repeat([f"p{k}" for k in range(16)], 4)
    perm = rng.permutation(64)
    by_index = hadw.estimate("grpo", r[perm], index=uids[perm])
    np.testing.assert_array_equal(by_size, by_offsets)
    np.testing.assert_array_equal(by_index, by_size[perm])  # every result at its caller's slot
    int_ids = np.repeat(np.arange(16) * 7, 4)[perm]
    np.testing.assert_array_equal(hadw.estimate("grpo", r[perm], index=int_ids), by_size[perm])


def test_mask_excludes_a_response_and_zeroes_it():
    r = np.array([1.0, 0.0, 0.0, 5.0], dtype=np.float32)
    adv = hadw.estimate("dr_grpo", r, group_size=4, mask=np.array([1, 1, 1, 0], dtype=bool))
    np.testing.assert_allclose(adv, [2 / 3, -1 / 3, -1 / 3, 0.0], rtol=1e-6)


def test_nan_unscorable_matches_dropping_the_response():
    r = np.array([1.0, np.nan, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0])
    adv = hadw.estimate("grpo", r, group_size=4, nan="unscorable")
    assert adv[1] == 0.0
    np.testing.assert_allclose(adv[[0, 2, 3]], naive_grpo(np.array([1.0, 0.0, 0.0]), 3))


def test_options_and_presets():
    r = np.array([1.0, 0.0, 0.0, 1.0])
    eps_big = hadw.estimate("grpo", r, group_size=4, eps=1.0)
    np.testing.assert_allclose(eps_big, naive_grpo(r, 4, eps=1.0))
    population = hadw.estimate("grpo", r, group_size=4, unbiased=False, eps=0.0)
    np.testing.assert_allclose(population, [1, -1, -1, 1])
    est = hadw.Estimator("grpo", compat="trl")
    assert "eps=0.0001" in repr(est) and est.compat == "trl"
    np.testing.assert_allclose(hadw.estimate(est, r, group_size=4), naive_grpo(r, 4, eps=1e-4))
    one = hadw.estimate("grpo", np.array([0.7]), group_size=1, compat="verl")
    assert one[0] == pytest.approx(0.7 / (1 + 1e-6))


# ------------------------------------------------------------------------------------------
# Errors name the argument


def test_bad_inputs_raise_naming_the_argument():
    r = np.zeros(8, dtype=np.float32)
    with pytest.raises(TypeError, match="rewards: float32 or float64 required, got int64"):
        hadw.estimate("grpo", np.zeros(8, dtype=np.int64), group_size=4)
    with pytest.raises(ValueError, match="rewards: a C-contiguous array required"):
        hadw.estimate("grpo", np.zeros(16, dtype=np.float32)[::2], group_size=4)
    with pytest.raises(ValueError, match="rewards: a 1-D array required"):
        hadw.estimate("grpo", np.zeros((2, 4), dtype=np.float32), group_size=4)
    with pytest.raises(TypeError, match="out: the dtype of rewards"):
        hadw.estimate("grpo", r, group_size=4, out=np.zeros(8))
    with pytest.raises(ValueError, match=r"out.shape\[0\] == len\(rewards\)"):
        hadw.estimate("grpo", r, group_size=4, out=np.zeros(9, dtype=np.float32))
    with pytest.raises(TypeError, match="mask: bool or uint8 required, got float32"):
        hadw.estimate("grpo", r, group_size=4, mask=np.ones(8, dtype=np.float32))
    with pytest.raises(TypeError, match="lengths: int64 required, got int32"):
        hadw.estimate("opo", r, group_size=4, lengths=np.ones(8, dtype=np.int32))
    with pytest.raises(hadw.Error, match="lengths required"):
        hadw.estimate("opo", r, group_size=4)
    with pytest.raises(hadw.Error, match="rewards\\[2\\] is NaN"):
        hadw.estimate("grpo", np.array([0, 1, np.nan, 1.0]), group_size=2)
    with pytest.raises(hadw.Error, match="eps: not an option of estimator 'rloo'"):
        hadw.estimate("rloo", r, group_size=4, eps=1e-3)
    with pytest.raises(hadw.Error, match="compat 'trl' has no preset for 'opo'"):
        hadw.Estimator("opo", compat="trl")
    with pytest.raises(hadw.Error, match="estimator: one of"):
        hadw.Estimator("ppo")
    with pytest.raises(ValueError, match="exactly one of group_size, index, offsets"):
        hadw.estimate("grpo", r)
    with pytest.raises(hadw.Error, match="eps >= 0"):
        hadw.Estimator("grpo", eps=-1.0)
    assert issubclass(hadw.Error, ValueError)


def test_torch_errors_name_device_and_layout():
    torch = pytest.importorskip("torch")
    r = torch.zeros(8)
    with pytest.raises(ValueError, match="rewards: a C-contiguous array required"):
        hadw.estimate("grpo", torch.zeros(16)[::2], group_size=4)
    with pytest.raises(TypeError, match="rewards: float32 or float64 required, got bfloat16"):
        hadw.estimate("grpo", r.to(torch.bfloat16), group_size=4)
    with pytest.raises(TypeError, match="mask: bool or uint8 required, got int64"):
        hadw.broadcast_to_tokens(r, torch.ones(8, 3, dtype=torch.int64))
    # (A non-CPU device cannot be made on a machine without one; arrays.hpp's check_layout
    # raises "<name>: a CPU array required, got device type N" for it.)


# ------------------------------------------------------------------------------------------
# Zero copy, measured by address


def test_numpy_output_is_the_buffer_passed_in_and_inputs_are_not_copied(rng):
    r = random_batch(rng, 8, 4, "binary")
    out = np.full(32, -1.0, dtype=np.float32)
    res = hadw.estimate("grpo", r, group_size=4, out=out)
    assert res is out and (out != -1.0).any()
    assert hadw._core._data_address(r) == r.ctypes.data  # the kernel reads the caller's memory
    ro = r.copy()
    ro.flags.writeable = False  # read-only inputs are viewed, not copied
    assert hadw._core._data_address(ro) == ro.ctypes.data
    before = out.ctypes.data
    stats = hadw.reweight(out, r, hadw.DifficultyAnchor(), group_size=4)
    assert out.ctypes.data == before and stats["hadw/total"] == 32


def test_torch_output_is_the_tensor_passed_in_and_inputs_are_not_copied(rng):
    torch = pytest.importorskip("torch")
    r = torch.from_numpy(random_batch(rng, 8, 4, "binary"))
    out = torch.empty(32)
    ptr = out.data_ptr()
    res = hadw.estimate("grpo", r, group_size=4, out=out)
    assert res is out and out.data_ptr() == ptr
    assert hadw._core._data_address(r) == r.data_ptr()
    needs_grad = torch.zeros(32, requires_grad=True)
    assert hadw._core._data_address(needs_grad.detach()) == needs_grad.data_ptr()
    allocated = hadw.estimate("grpo", r, group_size=4)
    assert isinstance(allocated, torch.Tensor) and allocated.dtype == torch.float32
    torch.testing.assert_close(allocated, out)
    mask = torch.ones(32, 5, dtype=torch.bool)
    assert hadw._core._data_address(mask) == mask.data_ptr()  # bool masks read as bytes
    tokens = torch.empty(32, 5)
    assert hadw.broadcast_to_tokens(out, mask, out=tokens).data_ptr() == tokens.data_ptr()


# ------------------------------------------------------------------------------------------
# reweight, the anchor, tokens


def test_reweight_equals_the_papers_formula(rng):
    r = random_batch(rng, 32, 8, "binary")
    adv = hadw.estimate("grpo", r, group_size=8)
    base = adv.astype(np.float64).copy()
    anchor = hadw.DifficultyAnchor(eta=0.5, initial_belief=0.3)
    stats = hadw.reweight(adv, r, anchor, group_size=8, lambda_scale=1.4)
    diff = r.reshape(-1, 8).mean(axis=1).repeat(8) - 0.3  # eq. 13 with the prior C = 0.3
    expected = base * 1.4 * np.exp(-np.sign(base) * np.sign(diff) * np.abs(diff))
    np.testing.assert_allclose(adv, expected, rtol=2e-6, atol=1e-7)
    y = float(r.mean())
    # first step: sigma = warmup_sigma = 1, eta_1 = 0.5 * 1, C+ = 0.5 * 0.3 + 0.5 * y
    assert stats["hadw/prior"] == 0.3 and stats["hadw/eta"] == 0.5
    assert stats["hadw/posterior"] == pytest.approx(0.15 + 0.5 * y)
    assert anchor.prior == stats["hadw/posterior"] and anchor.step == 1
    assert stats["hadw/batch_accuracy"] == pytest.approx(y)
    assert set(stats) >= {"hadw/phi_min", "hadw/phi_mean", "hadw/phi_max",
                          "hadw/degenerate_fraction", "hadw/correct", "hadw/total"}
    assert all(k.startswith("hadw/") for k in stats)


def test_data_parallel_counts_and_no_update():
    anchor = hadw.DifficultyAnchor("window_mean", window=3)
    r = np.array([1.0, 0.0, 1.0, 1.0])
    adv = hadw.estimate("grpo", r, group_size=2)
    stats = hadw.reweight(adv, r, anchor, group_size=2, update_anchor=False)
    assert anchor.step == 0 and stats["hadw/correct"] == 3 and stats["hadw/total"] == 4
    anchor.observe(stats["hadw/correct"] + 5, stats["hadw/total"] + 8)  # all-reduced counts
    assert anchor.history == [8 / 12] and anchor.prior == 8 / 12
    with pytest.raises(hadw.Error, match="0 <= correct <= total"):
        anchor.observe(5, 4)


def test_anchor_checkpoints_round_trip_bit_exactly(tmp_path):
    for anchor in (hadw.DifficultyAnchor(), hadw.DifficultyAnchor("window_mean", window=4),
                   hadw.DifficultyAnchor("fixed", initial_belief=0.25)):
        for y in (0.1, 0.6, 0.35, 0.8):
            anchor.observe(y)
        restored = hadw.DifficultyAnchor(anchor.belief)  # a state loads into its own belief
        restored.load_state_dict(anchor.state_dict())
        assert restored == anchor and restored.belief == anchor.belief
        assert restored.config == anchor.config
        assert pickle.loads(pickle.dumps(anchor)) == anchor
        assert hadw.DifficultyAnchor.load(anchor.save()) == anchor
        restored.observe(0.5)
        anchor.observe(0.5)
        assert restored.prior == anchor.prior  # resumed runs continue identically
    torch = pytest.importorskip("torch")
    path = tmp_path / "ckpt.pt"
    torch.save({"hadw": anchor.state_dict()}, path)
    fresh = hadw.DifficultyAnchor("fixed")
    fresh.load_state_dict(torch.load(path)["hadw"])
    assert fresh == anchor


def test_corrupt_anchor_state_is_rejected():
    state = bytearray(hadw.DifficultyAnchor().save())
    state[-1] ^= 1
    with pytest.raises(hadw.Error, match="checksum"):
        hadw.DifficultyAnchor.load(bytes(state))
    with pytest.raises(hadw.Error, match="hadw_anchor"):
        hadw.DifficultyAnchor().load_state_dict({})


def test_broadcast_to_tokens_by_mask_and_by_lengths():
    adv = np.array([1.5, -2.0, 0.25], dtype=np.float32)
    mask = np.array([[1, 1, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]], dtype=np.uint8)
    np.testing.assert_array_equal(hadw.broadcast_to_tokens(adv, mask), adv[:, None] * mask)
    by_len = hadw.broadcast_to_tokens(adv, lengths=np.array([2, 4, 0]), L=4)
    np.testing.assert_array_equal(by_len, adv[:, None] * (np.arange(4) < [[2], [4], [0]]))
    with pytest.raises(hadw.Error, match=r"0 <= lengths\[0\] <= L"):
        hadw.broadcast_to_tokens(adv, lengths=np.array([5, 0, 0]), L=4)


def test_estimate_and_reweight_is_estimate_then_reweight(rng):
    r = random_batch(rng, 16, 4, "levels")
    a1, a2 = hadw.DifficultyAnchor(), hadw.DifficultyAnchor()
    adv, stats = hadw.estimate_and_reweight("rloo", r, a1, group_size=4, lambda_scale=1.2)
    ref = hadw.estimate("rloo", r, group_size=4)
    ref_stats = hadw.reweight(ref, r, a2, group_size=4, lambda_scale=1.2)
    np.testing.assert_array_equal(adv, ref)
    assert stats == ref_stats and a1 == a2


def test_theory_functions_are_the_papers_equations():
    assert hadw.history_difficulty(0.25, 0.5) == -0.25
    assert hadw.direction(1.0, -0.25) == 1.0 and hadw.direction(-1.0, -0.25) == -1.0
    assert hadw.magnitude(-0.25) == 0.25
    assert hadw.phi(1.0, -0.25, 1.5) == pytest.approx(1.5 * np.exp(0.25))


def test_binary_theory_closed_forms():
    from math import comb

    for G in (2, 4, 8):
        for p in (0.1, 0.3, 0.5, 0.8):
            ps = 1 - (1 - p) ** G - p ** G
            assert hadw.theory.non_degenerate_probability(p, G) == pytest.approx(ps, rel=1e-12)
            e = sum(k / G * comb(G, k) * p ** k * (1 - p) ** (G - k) for k in range(1, G)) / ps
            assert hadw.theory.expected_baseline(p, G) == pytest.approx(e, rel=1e-12)
            assert hadw.theory.bias(p, G) == pytest.approx(e - p, abs=1e-12)
    # Corollary: surely underestimated for p < 1/G; > 0.78 on p < 0.25 for 2 <= G <= 8.
    assert hadw.theory.underestimation_probability(4, 0.0, 0.25) == pytest.approx(1.0)
    assert hadw.theory.underestimation_probability(8, 0.0, 0.25) > 0.78
    assert hadw.theory.overestimation_probability(8, 0.75, 1.0) > 0.78
    with pytest.raises(hadw.Error, match="G >= 2"):
        hadw.theory.bias(0.3, 1)


# ------------------------------------------------------------------------------------------
# Python == C++, bit for bit


def test_python_equals_cpp(rng, tmp_path):
    cxx = shutil.which(os.environ.get("CXX", "g++"))
    if cxx is None:
        if os.environ.get("HADW_REQUIRE_PEERS") == "1":
            pytest.fail("a C++20 compiler (g++) is needed for the Python == C++ check")
        pytest.skip("no C++ compiler")
    exe = tmp_path / "cpp_reference"
    subprocess.run([cxx, "-std=c++20", "-O2", f"-I{REPO / 'include'}",
                    str(Path(__file__).with_name("cpp_reference.cpp")), "-o", str(exe)],
                   check=True)
    B, G = 24, 8
    r = random_batch(rng, B, G, "uniform")
    lengths = rng.integers(1, 50, B * G)
    stdin = f"{B} {G}\n" + " ".join(f"{x:.9g}" for x in r) + "\n" + " ".join(map(str, lengths))
    lines = subprocess.run([str(exe)], input=stdin, capture_output=True, text=True,
                           check=True).stdout.splitlines()
    cpp = {ln.split()[0]: ln.split()[1:] for ln in lines}

    def same(name, ours):
        theirs = np.array([float.fromhex(x) for x in cpp[name]], dtype=np.float32)
        np.testing.assert_array_equal(ours, theirs, err_msg=name)

    for name in hadw.ESTIMATORS:
        same(name, hadw.estimate(name, r, group_size=G, lengths=lengths))
    same("verl_grpo", hadw.estimate("grpo", r, group_size=G, compat="verl"))
    same("trl_grpo", hadw.estimate("grpo", r, group_size=G, compat="trl"))
    anchor = hadw.DifficultyAnchor()
    for step in range(3):
        adv = hadw.estimate("grpo", r, group_size=G)
        hadw.reweight(adv, r, anchor, group_size=G, lambda_scale=1.3)
        same(f"reweight{step}", adv)
    assert anchor.save().hex() == "".join(cpp["anchor"])
