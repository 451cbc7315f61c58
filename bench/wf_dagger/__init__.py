"""The seed engine, wf-dagger 0.2.6, on the bench workload, in a virtualenv of its own.

`venv.py` (run by the orchestrator, in the project's environment) creates that virtualenv once;
`runner.py` and `workload.py` run inside it and import nothing of dagger's own packages.
"""
