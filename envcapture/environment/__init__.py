"""Stage 2: the analysed interpreter -> `EnvSnapshot` (what is installed, read in one subprocess), and the interpreters on this machine."""
