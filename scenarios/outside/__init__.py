"""The outside world: what runs against real clients and real sockets, in real time.

- :mod:`.serve`: a scenario's scripted server on a real socket, for any client (``smtp-hil
  serve``), judging each connection from the server side;
- :mod:`.dutfile` and :mod:`.dut`: an SMTP client program as the device under test
  (``smtp-hil run --dut``): its DUT file, and running it against the scripted server;
  ``dut/`` ships the DUT files of curl, msmtp, swaks and a standard-library script;
- :mod:`.dutsecrets`: keeping a scenario's credentials out of a program's command line and
  output;
- :mod:`.interruptible`: running an event loop so that Ctrl-C ends it at once (``run
  --dut``, ``audit --dut``, ``audit --board``).

Everything here reads the host clock and uses OS sockets and processes; nothing of the
simulated world may import it.
"""
