"""Training backends, each implementing the GRPO `Learner` of explorer/rl/grpo.py and an SFT:
local.py trains the numpy log-linear policy on this CPU (adam.py is its optimizer); tinker.py
trains Qwen3 + LoRA through the Tinker SDK, over the thin SDK layer in tinker_sdk.py."""
