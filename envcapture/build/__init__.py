"""Stage 5: `Capture` -> the lock, a wheelhouse for the target, the local code, and the bundle with its `manifest.json`."""
