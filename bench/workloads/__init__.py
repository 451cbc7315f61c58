"""The benchmark's DSL files, compiled at bench time by `daggerc build bench/workloads --out bench/generated`."""
