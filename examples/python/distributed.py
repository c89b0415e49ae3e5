"""HA-DW across data-parallel ranks with torch.distributed: hadw.distributed.

    torchrun --nproc_per_node=2 examples/python/distributed.py      # or:
    python examples/python/distributed.py --world 2                 # spawns the ranks itself

Each rank generates whole groups for its own prompts (groups="local"): it weights them with the
shared prior and one all-reduce of three integers updates every rank's anchor identically. The
script checks after every step that all ranks hold the same anchor bytes. gloo on the CPU here;
with NCCL the same call all-reduces on the GPU.
"""

import argparse
import os

import numpy as np
import torch
import torch.distributed as dist

import hadw
import hadw.distributed as hd

G, PROMPTS_PER_RANK, STEPS = 8, 16, 5


def run(rank: int, world: int) -> None:
    dist.init_process_group("gloo", rank=rank, world_size=world)
    anchor = hadw.DifficultyAnchor("window_mean")
    rng = np.random.default_rng(100 + rank)  # every rank has its own prompts
    for step in range(STEPS):
        p = np.clip(rng.random(PROMPTS_PER_RANK) * (0.4 + step / 10), 0, 1).repeat(G)
        rewards = torch.from_numpy((rng.random(p.size) < p).astype(np.float32))
        adv, stats = hd.estimate_and_reweight("grpo", rewards, anchor, group_size=G,
                                              compat="trl")
        states = [None] * world
        dist.all_gather_object(states, anchor.save())
        assert all(s == states[0] for s in states), "anchors diverged"
        if rank == 0:
            print(f"step {step}: local accuracy {stats['hadw/batch_accuracy']:.3f}, global "
                  f"{stats['hadw/global_accuracy']:.3f} ({stats['hadw/global_correct']}/"
                  f"{stats['hadw/global_total']}), prior {stats['hadw/prior']:.4f} -> "
                  f"{stats['hadw/posterior']:.4f}; {world} anchors bit-identical")
    dist.destroy_process_group()


def spawned(rank: int, world: int, port: int) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    run(rank, world)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--world", type=int, default=2, help="ranks to spawn without torchrun")
    a = ap.parse_args()
    if "RANK" in os.environ:  # under torchrun
        run(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]))
    else:
        import socket

        import torch.multiprocessing as mp

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        mp.spawn(spawned, args=(a.world, port), nprocs=a.world)
