"""The HTML report: what people who debug protocols look at instead of reading.

``model`` holds the report's plain records; ``dialogue``, ``device`` and ``tcpview``
make a run's sequence diagram rows, pool and RX ring chart and TCP view from its trace
records; ``checks`` judges a run one expectation at a time; ``masking`` hides
credentials; ``from_runs`` turns run results into the records (the only module that
knows ``RunResult``), ``from_server`` a real client's connections as the scripted server
saw them; ``html`` renders one self-contained file with the style sheet and
script of ``static/``. Nothing in the simulation knows about any of it.
"""
