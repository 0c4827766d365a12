"""The host side: the :mod:`stack.api` socket API and task runtime on OS sockets, in real time.

- :mod:`stack.host.stack`: :class:`~stack.host.stack.HostStack`, non-blocking OS sockets
  behind the same socket API as the simulated stack;
- :mod:`stack.host.runtime`: :class:`~stack.host.runtime.HostRuntime`, the same generator
  tasks as on the emulated board, scheduled in real time.

Within ``stack/`` these two modules alone touch OS sockets and the wall clock; nothing in
the simulated world imports them.
"""
