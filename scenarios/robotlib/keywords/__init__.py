"""The keyword components of :class:`~scenarios.robotlib.SmtpHilLibrary`, one module per
area: :mod:`.board`, :mod:`.server`, :mod:`.network`, :mod:`.console`, :mod:`.mailbox`,
:mod:`.artifacts`.

Each module defines one :class:`~scenarios.robotlib.context.LibraryComponent` whose
``AREA`` tags all its keywords. The components share the library's context and never
import one another.
"""
