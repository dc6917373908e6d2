"""Training for the local policy: demos (heuristic episodes), SFT (behaviour cloning), GRPO."""
