"""Training backends. `train.backend: local` trains the numpy policy in explorer/policies/local.py
(its loops live in explorer/train/sft.py and grpo.py); `train.backend: tinker` trains Qwen3 + LoRA
through the Tinker SDK: explorer/backends/tinker.py is the thin layer over the SDK, and
explorer/train/tinker_train.py the SFT and GRPO loops that use it."""
