"""Start jasmind (Jasmin 0.11.0) for the tests; run with the Jasmin virtualenv's python.

Does what ``jasmind.py``'s ``__main__`` does, minus two things that break parallel test runs on
one machine:

* jasmind takes a machine-wide lock file ``/tmp/jasmind`` ("must not be executed
  simultaneously"): a second test run — another xdist worker, another checkout — would exit with
  "Lock not acquired". Each harness gives its Jasmin its own ports, vhost and directory instead.
* If the test process that started it dies without stopping it (``MINGBAI_JASMIN_PARENT``), it
  stops itself rather than live on.
* Jasmin passes ``dbid=None`` to its Redis connections when no Redis password is set, so every
  Jasmin shares database 0 whatever ``[redis-client] dbid`` says; here the configured db is used.

Usage: python run_jasmind.py -c jasmin.cfg --enable-dlr-lookup --enable-dlr-thrower
(every jasmind option is accepted).
"""

import os
import signal
import sys

from jasmin.redis import client as redis_client

_factory_init = redis_client.RedisForJasminFactory.__init__


def _init_with_db(self, uuid, dbid, poolsize, isLazy=True, handler=redis_client.redis.ConnectionHandler, config=None):
    if dbid is None and config is not None and config.password is None:
        dbid = config.dbid
    _factory_init(self, uuid, dbid, poolsize, isLazy, handler, config)


redis_client.RedisForJasminFactory.__init__ = _init_with_db

from jasmin.bin.jasmind import JasminDaemon, Options  # noqa: E402
from twisted.internet import reactor, task  # noqa: E402
from twisted.python import usage  # noqa: E402


def main():
    options = Options()
    try:
        options.parseOptions()
    except usage.UsageError as exc:
        print(f"{sys.argv[0]}: {exc}", file=sys.stderr)
        sys.exit(2)
    daemon = JasminDaemon(options)
    signal.signal(signal.SIGINT, daemon.sighandler_stop)
    signal.signal(signal.SIGTERM, daemon.sighandler_stop)
    daemon.start()
    parent = int(os.environ.get("MINGBAI_JASMIN_PARENT", "0"))
    if parent:

        def orphaned():
            try:
                os.kill(parent, 0)
            except ProcessLookupError:
                print("the test process that started jasmind is gone: stopping", flush=True)
                daemon.sighandler_stop(signal.SIGTERM, None)
                watch.stop()

        watch = task.LoopingCall(orphaned)
        watch.start(2.0, now=False)
    reactor.run()


if __name__ == "__main__":
    main()
