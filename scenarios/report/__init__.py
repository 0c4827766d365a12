"""The HTML report: what people who debug protocols look at instead of reading.

``model`` holds the report's plain records; ``dialogue``, ``device`` and ``tcpview``
make a run's sequence diagram rows, pool and RX ring chart and TCP view from its trace
records; ``checks`` judges a run one expectation at a time; ``masking`` hides
credentials; ``from_runs`` turns run results into the records (the only module that
knows ``RunResult``), ``from_server`` a real client's connections as the scripted server
saw them; ``html`` renders one self-contained file with the style sheet and
script of ``static/``. Nothing in the simulation knows about any of it.

Writing a report, from any front door (every one writes the same page)::

    from scenarios.report.from_runs import build_report
    from scenarios.report.html import render_report

    report = build_report(results, title="smtp-hil explore on 2.4", views=server_views)
    path.write_text(render_report(report), encoding="utf-8")

``results`` are simulated :class:`~scenarios.runner.RunResult` s (``matrix=True`` adds
their scenario x release grid; ``artifacts=`` and ``report=``, the folder of
``--artifacts`` and the HTML file's own path, link each run to its files); ``views``
are ready-made :class:`~scenarios.report.model.RunView` s, e.g. a real client's
connections from :func:`scenarios.report.from_server.server_run_view` (``serve``,
``run --dut``: :func:`scenarios.outside.dut.dut_run_view`). A subcommand of
``smtp-hil`` calls :func:`scenarios.cli.outputs.write_report` instead, which does both
and turns a path that cannot be written into bad input naming ``--report``.
"""
