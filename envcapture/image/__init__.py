"""Stage 6: a bundle -> OCI image layers on top of the job's base image (daemonless, byte-reproducible)."""
