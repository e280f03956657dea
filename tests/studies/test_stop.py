"""A Ctrl-C that Python swallows inside a finalizer still stops the study."""

import os
import signal
import weakref

import pytest

from ablate.studies import runner


def test_a_ctrl_c_dropped_by_a_finalizer_is_raised_again():
    previous = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    try:
        runner._catch_stops()
        runner.check_stop()  # nothing pending yet

        class Resource:
            pass

        resource = Resource()
        weakref.finalize(resource, os.kill, os.getpid(), signal.SIGINT)
        del resource  # the signal arrives inside the finalizer: Python prints and drops it
        with pytest.raises(KeyboardInterrupt, match="signal 2"):
            runner.check_stop()
    finally:
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGTERM, previous[1])
        runner._STOP["signal"] = None
