"""``smtp-hil audit``: the hostile-server catalog put to one SMTP client, as a scorecard.

- :mod:`.cases`: which scenarios are audit cases (``[scenario.audit]``), picked by tag and
  group, and the record of one case's result;
- :mod:`.modelled`: the modelled client on a release (or a C firmware), in simulation,
  judged on each scenario's whole ``[expect]``;
- :mod:`.programs`: a client program through its DUT file, on real sockets, judged on
  the outcome any correct client must reach and the server's checks;
- :mod:`.scorecard`: the scorecard as text and as JSON, and the exit status;
- :mod:`.report`: the HTML report's scorecard page (through :mod:`scenarios.report`).

The command line is :mod:`scenarios.cli.audit`'s.
"""
