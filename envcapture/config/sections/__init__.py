"""The sections of the job-config contract, one module each: node tree -> part of a `JobConfig`."""
