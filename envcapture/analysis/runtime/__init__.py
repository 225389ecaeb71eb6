"""The opt-in runtime pass: import the entry points in a sandbox and add what only a run shows."""
