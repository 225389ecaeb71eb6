"""The target side: verify a bundle offline and run the job from it. Reads the build side only through `build.manifest`."""
