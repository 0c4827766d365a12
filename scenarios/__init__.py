"""Scripted SMTP servers and the scenarios that drive the client against them.

``scenarios.server`` is the sans-I/O server engine (verbs, session, rules and faults as
data, what the server received). The scenario file format, the catalog, the runner and
its verdicts, the CLI, the pytest plugin and the Robot keyword library sit beside it.
Nothing in this package reads the wall clock or the OS random generator.
"""
