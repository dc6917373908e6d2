"""Tinker-Explorer: train agents that read less and answer better on 2WikiMultiHopQA."""

__version__ = "0.1.0"
