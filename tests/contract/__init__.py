"""Backend-independent contract tests: each backend subclasses the contract with a fixture."""
