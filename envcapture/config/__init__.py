"""Stage 1: ``config.yaml`` -> `JobConfig` (the job-config contract, validated with file:line:column)."""
