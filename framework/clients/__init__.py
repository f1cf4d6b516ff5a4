"""The client layer: the only code that imports pymesos, marathon or consul.

Everything above it (the scheduler, the deployer, the sync loop) works with our
own types and errors, so the upstream libraries stay replaceable and their
quirks (see each module) are handled in one place.
"""
