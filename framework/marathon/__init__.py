"""The Marathon deployer: validate, plan, deploy, canary, revert, roll back.

Pure planners (``spec``, ``rules``, ``plan``, ``follow``, ``canary``) compute
decisions from observed state; ``executor`` carries them out through
`framework.clients.marathon_api.MarathonApi` and an injectable clock.
"""
