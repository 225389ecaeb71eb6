"""Stage 3: entry points -> import graph -> `Analysis` (stdlib, local code, installed distribution, unknown), with libcst."""
