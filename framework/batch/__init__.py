"""The pure core of the batch framework: specs, constraints, queueing, placement.

Everything in this package is a function over plain data that returns
instructions; nothing here talks to Mesos, reads a clock or touches a file
(``spec.load_job_spec`` aside, which only reads the spec it is given). The
scheduler that drives it lives in the client layer.

Modules:

* ``resources`` - the resource vector shared by every other module.
* ``spec``      - the job spec model, its parser and ``spark_submit_argv``.
* ``constraints`` - Marathon-style constraints evaluated against an agent.
* ``queue``     - DRF ordering of pending tasks; ``fits_anywhere`` at submit.
* ``placement`` - packs pending tasks onto offers (``binpack`` or ``spread``).
* ``retry``     - retry or give up after a task ends badly.
"""
