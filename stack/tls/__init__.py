"""Real TLS for both worlds: OpenSSL sessions over a non-blocking stream, and their setup.

- :mod:`stack.tls.session`: :class:`~stack.tls.session.TlsSocket`, a TLS session through
  ``ssl.MemoryBIO`` over any :class:`stack.api.StreamSocket`, reporting socket events;
- :mod:`stack.tls.config`: what a side offers and accepts (``TlsConfig``), the OpenSSL
  context, and the client's certificate check against the device's RTC;
- :mod:`stack.tls.verify`: the WebPKI verification itself, with the time as an argument;
- :mod:`stack.tls.records`: where TLS records end in a ciphertext stream (headers only);
- :mod:`stack.tls.keylog`: session secrets in the NSS key log format;
- :mod:`stack.tls.certs`: a throwaway test PKI with record lengths stable run to run;
- :mod:`stack.tls.badcerts`: server certificates by kind (expired, self-signed, weak key,
  ...) for tests of clients that must refuse them, and the trust anchors to go with them.

Nothing here reads a clock or knows SMTP, kernels or boards.
"""
