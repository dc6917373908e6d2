"""Reinforcement learning, written once for both backends: the GRPO loop (grpo.py) over the small
`Learner` protocol that explorer/backends/local.py and explorer/backends/tinker.py implement, and
the run-state record every training run resumes from (state.py)."""
