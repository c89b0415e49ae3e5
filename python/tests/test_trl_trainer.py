"""hadw.trl.HADWGRPOTrainer inside the installed TRL: a tiny model built from a config and a
tokenizer built with `tokenizers` (nothing downloaded) trains on the CPU; the advantages it trains
on are hadw's for the gathered rewards; a checkpoint restores the anchor bit for bit and the
resumed run trains on the uninterrupted run's advantages; evaluation with num_generations_eval=1
works and evaluation never moves the anchor."""

import os

import pytest

import hadw
from conftest import peer

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

G = 4
LAMBDA = 1.4


def tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = ["<pad>", "<eos>", "<unk>"] + [f"w{i}" for i in range(29)]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>",
                                   unk_token="<unk>")


def model(tok):
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                      max_position_embeddings=64, pad_token_id=tok.pad_token_id,
                      eos_token_id=tok.eos_token_id, bos_token_id=tok.eos_token_id)
    return AutoModelForCausalLM.from_config(cfg)


def reward(prompts, completions, **kwargs):
    """1 when the completion names more even words than odd ones; None (unscorable) when it is
    empty of words."""
    out = []
    for c in completions:
        ws = [int(t[1:]) for t in c.split() if t.startswith("w")]
        out.append(None if not ws else float(sum(w % 2 == 0 for w in ws) * 2 > len(ws)))
    return out


def recording_trainer():
    from hadw.trl import HADWGRPOTrainer

    class Recording(HADWGRPOTrainer):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            self.record = []

        def _generate_and_score_completions(self, inputs):
            before = self.hadw_anchor.save()
            out = super()._generate_and_score_completions(inputs)
            self.record.append({"before": before, "after": self.hadw_anchor.save(),
                                "advantages": out["advantages"].clone(), **self.hadw_last})
            return out

    return Recording


def build(out_dir, max_steps, **config):
    from datasets import Dataset
    from trl import GRPOConfig

    from hadw.trl import HADWConfig

    tok = tokenizer()
    prompts = [" ".join(f"w{(3 * i + j) % 29}" for j in range(4)) for i in range(16)]
    ds = Dataset.from_dict({"prompt": prompts})
    args = GRPOConfig(output_dir=str(out_dir), use_cpu=True, bf16=False, report_to="none",
                      seed=42, per_device_train_batch_size=8, num_generations=G,
                      max_completion_length=6, max_steps=max_steps, save_steps=2,
                      logging_steps=1, learning_rate=1e-3, dataloader_num_workers=0,
                      per_device_eval_batch_size=4, **config)
    return recording_trainer()(model=model(tok), reward_funcs=reward, args=args,
                               train_dataset=ds, eval_dataset=ds.select(range(4)),
                               processing_class=tok,
                               hadw=HADWConfig(lambda_scale=LAMBDA, belief="window_mean"))


def check_is_hadw(trainer):
    """Each step's advantages are hadw.trl.grpo_advantages of its gathered rewards with the
    anchor as it was before the step; the anchor after is that call's."""
    from hadw.trl import grpo_advantages

    assert trainer.record
    for rec in trainer.record:
        replica = hadw.DifficultyAnchor.load(rec["before"])
        expected, stats = grpo_advantages(rec["rewards"], rec["num_generations"], "group",
                                          anchor=replica,
                                          lambda_scale=LAMBDA,
                                          update_anchor=rec["mode"] == "train")
        assert rec["advantages"].equal(expected)
        assert replica.save() == rec["after"]
        assert stats == rec["stats"]


def test_trains_on_hadw_advantages_and_resumes_bit_for_bit(tmp_path):
    peer("trl")
    full = build(tmp_path / "full", 4)
    full.train()
    assert len(full.record) == 4 and all(r["mode"] == "train" for r in full.record)
    check_is_hadw(full)
    assert hadw.DifficultyAnchor.load(full.record[-1]["after"]).step == 4
    logged = [h for h in full.state.log_history if "hadw/prior" in h]
    assert len(logged) == 4 and all("hadw/phi_mean" in h for h in logged)
    # The weight is really applied: some advantage differs from plain GRPO's.
    from hadw.trl import grpo_advantages

    plain = [grpo_advantages(r["rewards"], G)[0] for r in full.record]
    assert any(not p.equal(r["advantages"]) for p, r in zip(plain, full.record))

    ckpt = tmp_path / "full" / "checkpoint-2"
    with open(ckpt / "hadw_anchor.bin", "rb") as f:
        assert f.read() == full.record[1]["after"]

    resumed = build(tmp_path / "resumed", 4)
    resumed.train(resume_from_checkpoint=str(ckpt))
    assert len(resumed.record) == 2
    assert resumed.record[0]["before"] == full.record[1]["after"]  # the anchor, bit for bit
    check_is_hadw(resumed)
    for got, want in zip(resumed.record, full.record[2:]):
        # TRL resumes deterministically on the CPU (steps_per_generation=1): the same
        # completions, rewards and so the same advantages as the uninterrupted run.
        assert got["rewards"].nan_to_num(-1).equal(want["rewards"].nan_to_num(-1))
        assert got["advantages"].equal(want["advantages"])
    assert resumed.hadw_anchor == full.hadw_anchor


@pytest.mark.parametrize("eval_generations", [1, 2])
def test_evaluation_works_and_leaves_the_anchor(tmp_path, eval_generations):
    peer("trl")
    trainer = build(tmp_path / "eval", 1, num_generations_eval=eval_generations)
    trainer.train()
    before = trainer.hadw_anchor.save()
    metrics = trainer.evaluate()
    assert "eval_reward" in metrics
    evals = [r for r in trainer.record if r["mode"] == "eval"]
    assert evals and trainer.hadw_anchor.save() == before
    assert all(r["num_generations"] == eval_generations for r in evals)
    if eval_generations == 1:
        assert all((r["advantages"] == 0).all() for r in evals)
    else:
        check_is_hadw(trainer)
        assert "eval_hadw/prior" in metrics


def test_unscorable_batches_and_out_of_range_rewards(tmp_path):
    """A batch no reward function could score trains on zeros, as TRL does; rewards outside
    HADWConfig.reward_range stop training with an error that says where to set the range."""
    torch = peer("torch")
    peer("trl")
    from hadw.trl import grpo_advantages

    anchor = hadw.DifficultyAnchor()
    adv, stats = grpo_advantages(torch.full((8,), float("nan")), 4, anchor=anchor)
    assert torch.equal(adv, torch.zeros(8)) and stats is None and anchor.step == 0

    from hadw.trl import HADWConfig

    trainer = build(tmp_path / "range", 1)
    trainer.reward_funcs = [lambda prompts, completions, **kw: [2.0] * len(completions)]
    with pytest.raises(hadw.Error, match=r"HADWConfig.reward_range"):
        trainer.train()
    with pytest.raises(hadw.Error, match="lambda_scale in"):  # at construction, not at step 1
        trainer._hadw_setup(HADWConfig(lambda_scale=-1.0), None)
