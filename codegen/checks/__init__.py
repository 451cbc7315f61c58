"""The semantic checks, one module per family; `codegen.check.check` runs them all."""
