"""A Ctrl-C that Python swallows inside a finalizer still stops the study."""

import os
import signal
import weakref

import pytest

from ablate.studies.workers import Stops


def test_a_ctrl_c_dropped_by_a_finalizer_is_raised_again():
    previous = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    try:
        stops = Stops().catch()
        stops.check()  # nothing pending yet

        class Resource:
            pass

        resource = Resource()
        weakref.finalize(resource, os.kill, os.getpid(), signal.SIGINT)
        del resource  # the signal arrives inside the finalizer: Python prints and drops it
        with pytest.raises(KeyboardInterrupt, match="signal 2"):
            stops.check()
        assert Stops().signal is None  # each run has its own: nothing left in a module global
    finally:
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGTERM, previous[1])
