"""The ``mesos-adapter`` command line: parses flags, builds settings, calls in.

No command holds logic of its own; each one builds the settings tree and calls
into the layer that does the work.
"""
