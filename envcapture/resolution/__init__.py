"""Stage 4: `Analysis` + `EnvSnapshot` -> `Closure` (pins for the target, their origins and markers) and `Capture`."""
