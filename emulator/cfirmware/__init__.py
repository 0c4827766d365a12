"""C firmware on the emulated board: a shared library behind ``include/hil_firmware.h``.

``abi`` mirrors the header in ctypes, ``library`` finds a built firmware (lwIP's under
``build/lwip``) and loads private copies, ``instance`` runs one copy in this process,
``worker`` runs one in a worker process of its own (so a crash or a hang is a result),
``board`` puts it on the simulated link and ``firmware`` gives it the application API
of the Python model's firmware. ``lwip/`` holds our glue for lwIP 2.1.3; lwIP's source
is fetched at build time (``make lwip``), never kept here.
"""
