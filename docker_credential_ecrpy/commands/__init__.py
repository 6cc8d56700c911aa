"""The commands people and their timers run: ``configure``, ``doctor``, ``warm``, with
Docker's ``config.json``, argument parsing and the metrics file they share.

A floor of their own, on top of the same core as ``get`` (``store``, ``tokens``,
``cache``, ``registry``, ``errors``), and never imported by a pull: ``cli`` imports a
command's module only when it is asked for. This file imports nothing.
"""
