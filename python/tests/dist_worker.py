"""One rank of test_distributed.py: joins a gloo group on 127.0.0.1, runs three scenarios of
hadw.distributed for three steps each, and pickles what it saw (its advantages and anchor bytes
per step) to OUT/rank<k>.pkl. The batches are made from a seed, identically on every rank, and
each rank takes its slice; the test compares with one process over the whole batch."""

import os
import pickle
import sys

import numpy as np
import torch.distributed as dist

import hadw
import hadw.distributed as hd

G = 4


def batches(world, step):
    """The global batch of a step and how it is dealt: (rewards, mask, uids, slices, per-rank
    group counts for the 'local' scenarios)."""
    rng = np.random.default_rng(1000 + step)
    groups_per_rank = [0, 3, 2, 5][:world] if world == 4 else [3, 4][:world]
    B = sum(groups_per_rank)
    p = rng.random(B).repeat(G)
    binary = (rng.random(B * G) < p).astype(np.float32)
    uniform = rng.random(B * G)
    mask = rng.random(B * G) < 0.9
    if step == 1:  # the last rank's responses all masked: it still joins the collective
        mask[-per_rank_last(groups_per_rank) * G:] = False
    return groups_per_rank, binary, uniform, mask


def per_rank_last(groups_per_rank):
    return groups_per_rank[-1]


def errors(out_dir, rank):
    """Failures on one rank reach every rank (nobody is left waiting in a collective), and no
    anchor moves."""
    anchor = hadw.DifficultyAnchor()
    r = np.array([1, 0, 0, 1, 1, 1, 0, 1], dtype=np.float32)
    seen = {}

    def attempt(name, call):
        try:
            call()
            seen[name] = None
        except Exception as e:  # noqa: BLE001 - recorded for the test
            seen[name] = (type(e).__name__, str(e))

    bad = r.copy()
    if rank == 1:
        bad[3] = 2.0  # outside reward_range on one rank only
    attempt("out_of_range", lambda: hd.estimate_and_reweight("grpo", bad, anchor, group_size=4))
    attempt("options", lambda: hd.estimate_and_reweight(
        "grpo", r, anchor, group_size=4, lambda_scale=1.5 if rank == 0 else 1.3))
    uids = np.array(["a", "a", "b", "b", "c", "c", "d", "d"], dtype=object)
    attempt("spread_dtype", lambda: hd.estimate_and_reweight(
        "grpo", r.astype(np.float64) if rank == 1 else r, anchor, index=uids, groups="spread"))
    attempt("spread_tokens", lambda: hd.estimate_reweight_broadcast(
        "grpo", r, anchor, np.ones((8, 3 if rank else 2), bool), index=uids, groups="spread",
        token_out=np.zeros((8, 3), np.float32)))
    seen["anchor"] = anchor.save()
    with open(os.path.join(out_dir, f"errors{rank}.pkl"), "wb") as f:
        pickle.dump(seen, f)


def main():
    out_dir, rank, world = sys.argv[1], int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    dist.init_process_group("gloo", rank=rank, world_size=world)
    if len(sys.argv) > 2 and sys.argv[2] == "errors":
        errors(out_dir, rank)
        dist.destroy_process_group()
        return
    seen = {}
    anchors = {k: hadw.DifficultyAnchor() for k in ("binary", "uniform", "spread")}
    for step in range(3):
        per_rank, binary, uniform, mask = batches(world, step)
        lo = sum(per_rank[:rank]) * G
        hi = lo + per_rank[rank] * G
        adv, st = hd.estimate_and_reweight("grpo", binary[lo:hi], anchors["binary"],
                                           group_size=G, lambda_scale=1.3)
        seen[("binary", step)] = (np.asarray(adv), anchors["binary"].save(), st)
        adv, st = hd.estimate_and_reweight("rloo", uniform[lo:hi], anchors["uniform"],
                                           group_size=G, mask=mask[lo:hi])
        seen[("uniform", step)] = (np.asarray(adv), anchors["uniform"].save(), st)

        # Spread: responses shuffled, dealt in uneven chunks, so groups cross ranks; with 4
        # ranks rank 0 gets 3 responses: no complete group.
        rng = np.random.default_rng(7 + step)
        n = len(uniform)
        perm = rng.permutation(n)
        uids = np.array([f"prompt-{i // G}" for i in range(n)], dtype=object)[perm]
        cuts = [0, 3, n // 2, n - 5, n] if world == 4 else [0, n // 3, n]
        a, b = cuts[rank], cuts[rank + 1]
        tok, st = hd.estimate_reweight_broadcast(
            "grpo_batch_std", uniform[perm][a:b], anchors["spread"], token_lengths=np.full(
                b - a, 2, dtype=np.int64), L=3, groups="spread", index=uids[a:b],
            timing="posterior")
        seen[("spread", step)] = (np.asarray(tok), anchors["spread"].save(), st)
    with open(os.path.join(out_dir, f"rank{rank}.pkl"), "wb") as f:
        pickle.dump(seen, f)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
