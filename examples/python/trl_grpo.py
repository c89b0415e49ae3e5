"""TRL's GRPOTrainer with HA-DW: hadw.trl.HADWGRPOTrainer, trained, checkpointed and resumed.

    python examples/python/trl_grpo.py [--steps 6] [--output-dir /tmp/hadw-trl]

Runs on the CPU in seconds with nothing downloaded: the model is a two-layer Llama built from a
config and the tokenizer a word-level `tokenizers` one. With a real model, pass
AutoModelForCausalLM.from_pretrained(...) and its tokenizer instead; nothing else changes.
The task: continue a list of words w0..w29 with mostly even ones (reward 1 if more than half of
the completion's words are even, else 0).
"""

import argparse
import os
import shutil

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402
from datasets import Dataset  # noqa: E402
from tokenizers import Tokenizer, models, pre_tokenizers  # noqa: E402
from transformers import AutoModelForCausalLM, LlamaConfig, PreTrainedTokenizerFast  # noqa: E402
from trl import GRPOConfig  # noqa: E402

from hadw.trl import HADWConfig, HADWGRPOTrainer  # noqa: E402


def tiny_model_and_tokenizer():
    words = ["<pad>", "<eos>", "<unk>"] + [f"w{i}" for i in range(30)]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>",
                                        eos_token="<eos>", unk_token="<unk>")
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(words), hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=64, pad_token_id=tokenizer.pad_token_id,
                         eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.eos_token_id)
    return AutoModelForCausalLM.from_config(config), tokenizer


def mostly_even(prompts, completions, **kwargs):
    rewards = []
    for c in completions:
        ws = [int(t[1:]) for t in c.split() if t.startswith("w")]
        rewards.append(float(bool(ws) and 2 * sum(w % 2 == 0 for w in ws) > len(ws)))
    return rewards


def trainer(output_dir, steps):
    model, tokenizer = tiny_model_and_tokenizer()
    prompts = [" ".join(f"w{(7 * i + j) % 30}" for j in range(3)) for i in range(64)]
    args = GRPOConfig(output_dir=output_dir, use_cpu=True, bf16=False, report_to="none", seed=0,
                      per_device_train_batch_size=16, num_generations=8,
                      max_completion_length=8, max_steps=steps, save_steps=max(1, steps // 2),
                      logging_steps=1, learning_rate=3e-3)
    return HADWGRPOTrainer(model=model, reward_funcs=mostly_even, args=args,
                           train_dataset=Dataset.from_dict({"prompt": prompts}),
                           processing_class=tokenizer,
                           hadw=HADWConfig(lambda_scale=1.5, belief="kalman"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--output-dir", default="/tmp/hadw-trl-example")
    a = ap.parse_args()
    shutil.rmtree(a.output_dir, ignore_errors=True)

    t = trainer(a.output_dir, a.steps)
    t.train()
    print(f"{'step':>4} {'reward':>7} {'hadw/prior':>11} {'phi_mean':>9} {'posterior':>10}")
    for h in t.state.log_history:
        if "hadw/prior" in h:
            print(f"{h['step']:>4} {h['reward']:>7.3f} {h['hadw/prior']:>11.4f} "
                  f"{h['hadw/phi_mean']:>9.4f} {h['hadw/posterior']:>10.4f}")

    half = max(1, a.steps // 2)
    resumed = trainer(os.path.join(a.output_dir, "resumed"), a.steps)
    resumed.train(resume_from_checkpoint=os.path.join(a.output_dir, f"checkpoint-{half}"))
    same = resumed.hadw_anchor == t.hadw_anchor
    print(f"resumed from checkpoint-{half}: anchor after {a.steps} steps "
          f"{'equals' if same else 'DIFFERS FROM'} the uninterrupted run's ({t.hadw_anchor})")
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
