"""The reply fuzzer: hostile server replies against the client core, with invariants.

- :mod:`scenarios.replyfuzz.chooser`: where choices come from (Hypothesis, a seeded
  ``random.Random``, a recorded list);
- :mod:`scenarios.replyfuzz.mutations`: correct replies and the mutation classes of
  shared/reference/hostile-servers.md section 4;
- :mod:`scenarios.replyfuzz.server`: the hostile reply source;
- :mod:`scenarios.replyfuzz.harness`: one input, its delivery, and the invariants.

The suite runs it under Hypothesis (tests/scenarios/test_replyfuzz.py, a few hundred
inputs); ``make fuzz`` (bench/fuzz_replies.py) runs a million seeded inputs.
"""
