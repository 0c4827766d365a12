"""``smtp-hil import``: a capture or transcript of a field session in, a scenario file out.

Readers turn their input into one session model (:mod:`.model`): pcap and pcapng through
tshark (:mod:`.tshark`, :mod:`.pcapsession`), this project's transcript, swaks output and
``C:``/``S:`` dialogues (:mod:`.transcripts`). :mod:`.dialogue` pairs the client's
commands with the server's answers and how they were sent; :mod:`.facts`,
:mod:`.mailjob` and :mod:`.expectations` read the client's side; :mod:`.writer` writes
the commented scenario file; :mod:`.importer` wires them; :mod:`.problems` words bad
input. Nothing here runs a simulation.
"""
