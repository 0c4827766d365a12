"""The ``smtp-hil`` command line: one module per subcommand.

- :mod:`.main`: :func:`~scenarios.cli.main.main`, the parser, the dispatch, and the one
  place that turns bad input (:class:`~emulator.userinput.UserInputError`) into exit
  status 2;
- the subcommands: :mod:`.list`, :mod:`.run` (and :mod:`.run_dut` for ``run --dut``),
  :mod:`.matrix`, :mod:`.send`, :mod:`.board`, :mod:`.serve`, :mod:`.importing`
  (``import``: a module cannot be named so);
- what they share: :mod:`.args` (argument types), :mod:`.firmware` (``--firmware``),
  :mod:`.outputs` (the files ``run`` and ``matrix`` write), :mod:`.progress` (progress
  and Ctrl-C; Ctrl-C during an event loop is
  :mod:`scenarios.outside.interruptible`'s);
- :mod:`.entry`: the console script.

This module imports nothing: the console script imports the command line inside its
entry function (a Ctrl-C during those imports must not print a traceback), so the
package itself must stay light.
"""
