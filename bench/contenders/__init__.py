"""One module per contender; each runs as its own process (`python -m bench.contenders.NAME`).

A contender prints JSON lines on stdout for the orchestrator (`bench/run.py`): progress while it
runs and one result at the end (see `bench.contenders.common`). Its logs go to stderr.
"""
