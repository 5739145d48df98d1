"""Reproducing the paper's tables by one command (`tools/reproduce.py`).

`paper_tables` (the tables as data, with the paper's numbers), `plan` (the training runs and
evaluations a table needs, at a scale), `execute` (running them, skipping finished ones),
`report` (our table beside the paper's, Δm, Markdown and JSON).
"""
