"""Jasmin SMS gateway 0.11.0 as the real SMPP peer: start it, configure it with jcli, stop it.

The topology of the tests and of ``bench/sms.py throughput --via jasmin``::

    Mingbai (SMPP user, transceiver) ──▶ Jasmin SMPP server ──MT router──▶ client connector ──▶ upstream SMSC
    Mingbai ◀── deliver_sm (MO, receipts) ◀── Jasmin ◀──MO router── connector ◀── deliver_sm ◀── upstream SMSC

The upstream SMSC is the test harness's fake SMSC (``tests/smpp/smsc.py``, smpp34's server), so a
test decides which MOs arrive and which receipt states come back.

One :class:`Jasmin` is one jasmind process (``tests/jasmin/run_jasmind.py`` in the virtualenv of
``scripts/jasmin-venv``, with DLR lookup and the DLR thrower in-process, so receipts reach SMPP
users) in a process group of its own, with everything it could share with another run made its
own: free ports on 127.0.0.1 for every listener (SMPP server, its PB, client manager PB, router
PB, HTTP API, jcli), a RabbitMQ vhost created for it (``rabbitmqctl``) and deleted after, a Redis
database number, a directory for its config, stores and logs. ``stop()`` kills the group.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = Path(__file__).resolve().parent / "run_jasmind.py"
JCLI_USER, JCLI_PASSWORD = "jcliadmin", "jclipwd"


class JasminError(RuntimeError):
    """Jasmin could not be installed, started or configured; the text says where it stopped."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def jasmin_venv(timeout: float = 900) -> Path:
    """The Jasmin virtualenv, installed by ``scripts/jasmin-venv`` if missing (about 40 s)."""
    try:
        out = subprocess.run(
            ["bash", str(ROOT / "scripts/jasmin-venv")],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise JasminError(f"scripts/jasmin-venv did not finish in {timeout:.0f} s") from exc
    if out.returncode != 0:
        raise JasminError(f"scripts/jasmin-venv failed (exit {out.returncode}):\n{out.stderr[-3000:]}")
    venv = Path(out.stdout.strip().splitlines()[-1])
    if not (venv / "bin/python").exists():
        raise JasminError(f"scripts/jasmin-venv printed {venv}, which has no bin/python")
    return venv


def rabbitmqctl(*args: str, timeout: float = 60) -> str:
    try:
        ctl = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"  # sbin is not on every PATH
        out = subprocess.run([ctl, *args], capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError as exc:
        raise JasminError("rabbitmqctl is not on PATH: Jasmin needs the machine's RabbitMQ (127.0.0.1:5672)") from exc
    except subprocess.TimeoutExpired as exc:
        raise JasminError(f"rabbitmqctl {' '.join(args)} did not answer in {timeout:.0f} s") from exc
    if out.returncode != 0:
        raise JasminError(f"rabbitmqctl {' '.join(args)} failed (exit {out.returncode}): {out.stderr.strip()[-500:]}")
    return out.stdout


VHOST_PREFIX = "mingbai-jasmin-"


def _drop_stale_vhosts() -> None:
    """Delete the vhosts of harness runs whose process is gone (a run killed before its teardown)."""
    for line in rabbitmqctl("list_vhosts", "--quiet", "--no-table-headers").split():
        m = re.fullmatch(re.escape(VHOST_PREFIX) + r"(\d+)-[0-9a-f]+", line.strip())
        if m and not _alive(int(m.group(1))):
            with contextlib.suppress(JasminError):
                rabbitmqctl("delete_vhost", line.strip())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# -- jcli -------------------------------------------------------------------------------------------------

_IAC = 255
_NAWS = 31
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Jcli:
    """A jcli session (jasmind's telnet console) over a plain socket: telnet negotiation is
    ignored, terminal escapes are stripped, commands are sent line by line and answered up to the
    next prompt (``jcli : `` or, inside an ``-a``/``-u`` session, ``> ``)."""

    PROMPTS = ("jcli : ", "> ")

    def __init__(self, port: int, *, timeout: float = 15.0) -> None:
        self.timeout = timeout
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self._buf = ""
        self.transcript: list[str] = []
        self._expect(("Username: ",))
        self._send(JCLI_USER)
        self._expect(("Password: ",))
        self._send(JCLI_PASSWORD)
        out = self._expect(("jcli : ", "Username: "))
        if out.endswith("Username: "):
            raise JasminError("jcli refused the admin credentials")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.sendall(b"quit\r\n")
        self.sock.close()

    def _send(self, line: str) -> None:
        self.sock.sendall(line.encode() + b"\r\n")

    def _recv(self) -> str:
        data = self.sock.recv(65536)
        if not data:
            raise JasminError("jcli closed the connection; transcript:\n" + "".join(self.transcript)[-2000:])
        out = bytearray()
        i = 0
        while i < len(data):  # drop telnet commands (IAC …)
            b = data[i]
            if b == _IAC and i + 1 < len(data):
                cmd = data[i + 1]
                if cmd in (251, 252, 253, 254):  # WILL WONT DO DONT <option>
                    if cmd == 253 and i + 2 < len(data) and data[i + 2] == _NAWS:
                        # jcli draws its prompt once it knows the window size: a wide one, so
                        # tables do not wrap
                        self.sock.sendall(bytes((_IAC, 251, _NAWS, _IAC, 250, _NAWS, 0, 250, 0, 50, _IAC, 240)))
                    i += 3
                    continue
                if cmd == 250:  # SB … IAC SE
                    end = data.find(bytes((_IAC, 240)), i)
                    i = len(data) if end < 0 else end + 2
                    continue
                i += 2
                continue
            out.append(b)
            i += 1
        return _ANSI.sub("", out.decode("utf-8", "replace")).replace("\r", "")

    def _expect(self, prompts: tuple[str, ...]) -> str:
        deadline = time.monotonic() + self.timeout
        while not any(self._buf.endswith(p) for p in prompts):
            if time.monotonic() > deadline:
                raise JasminError(f"jcli did not prompt {prompts} in {self.timeout:.0f} s; got:\n{self._buf[-1500:]}")
            try:
                self._buf += self._recv()
            except TimeoutError:
                continue
        out, self._buf = self._buf, ""
        self.transcript.append(out)
        return out

    def run(self, line: str) -> str:
        """Send one line; return what jcli printed before its next prompt."""
        self._send(line)
        return self._expect(self.PROMPTS)

    def session(self, command: str, settings: dict[str, object], expect: str) -> str:
        """``smppccm -a`` and the like: the command, one ``key value`` line each, ``ok``; the final
        answer must contain ``expect``."""
        answers = [self.run(command)]
        for key, value in settings.items():
            answers.append(self.run(f"{key} {value}"))
        final = self.run("ok")
        if expect not in final:
            raise JasminError(f"jcli {command} {settings}: expected {expect!r}, got:\n" + "".join(answers) + final)
        return final

    def check(self, line: str, expect: str) -> str:
        out = self.run(line)
        if expect not in out:
            raise JasminError(f"jcli {line!r}: expected {expect!r}, got:\n{out}")
        return out


# -- the gateway ---------------------------------------------------------------------------------------------


@dataclass
class Jasmin:
    """One jasmind configured as Mingbai's SMSC: an SMPP user for Mingbai, a client connector to the
    upstream SMSC, a default MT route to it and a default MO route to the user."""

    upstream_port: int
    user: str = "mingbai"
    password: str = "secret"
    #: client connector id (3–25 characters): unique per run, so Redis keys never meet another run's
    cid: str = field(default_factory=lambda: f"up_{secrets.token_hex(4)}")
    redis_db: int = 11
    #: submit_sm per second each Jasmin connector sends upstream (0 = no limit)
    submit_throughput: int = 0
    #: client connectors to the upstream SMSC; more than one are used round-robin (a Jasmin
    #: connector has one submit_sm in flight at a time: AMQP prefetch 1, ack after the resp)
    connectors: int = 1
    #: seconds Jasmin keeps a message's receipt mapping
    dlr_expiry: int = 3600
    workdir: Path | None = None
    ports: dict[str, int] = field(default_factory=dict)
    vhost: str = ""
    proc: subprocess.Popen[bytes] | None = None

    # -- lifecycle
    def start(self, timeout: float = 90, attempts: int = 3) -> Jasmin:
        """Install if needed, start, wait until jcli answers, configure. A port taken between
        choosing it and Jasmin binding it (another process on the machine) is retried with new ports."""
        venv = jasmin_venv()
        _drop_stale_vhosts()
        for attempt in range(1, attempts + 1):
            try:
                self._start(venv, timeout)
                return self
            except JasminError as exc:
                if attempt == attempts or "Address already in use" not in str(exc):
                    raise
        raise AssertionError("unreachable")

    def _start(self, venv: Path, timeout: float) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="mingbai-jasmin-"))
        for sub in ("store", "logs"):
            (self.workdir / sub).mkdir()
        self.ports = {k: free_port() for k in ("smpp", "smpp_pb", "cm_pb", "router_pb", "http", "jcli")}
        self.vhost = f"{VHOST_PREFIX}{os.getpid()}-{secrets.token_hex(3)}"
        rabbitmqctl("add_vhost", self.vhost)
        try:
            rabbitmqctl("set_permissions", "-p", self.vhost, "guest", ".*", ".*", ".*")
            cfg = self.workdir / "jasmin.cfg"
            cfg.write_text(self._config(venv))
            # a clean environment: Jasmin lets variables such as ROUTER_PORT or DLR_… override
            # its config file, and the project's PYTHONPATH/VIRTUAL_ENV must not leak into its venv
            env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "LC_ALL", "TZ") if k in os.environ}
            env.update(
                ROOT_PATH=str(self.workdir),
                LOG_PATH=str(self.workdir / "logs"),
                STORE_PATH=str(self.workdir / "store"),
                PYTHONUNBUFFERED="1",
                MINGBAI_JASMIN_PARENT=str(os.getpid()),  # it stops itself if this process dies
            )
            self._out = open(self.workdir / "logs/jasmind.out", "wb")  # noqa: SIM115 — closed in stop()
            self.proc = subprocess.Popen(
                [
                    str(venv / "bin/python"),
                    str(LAUNCHER),
                    "-c",
                    str(cfg),
                    "--enable-dlr-lookup",
                    "--enable-dlr-thrower",
                ],
                cwd=self.workdir,
                env=env,
                stdout=self._out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() kills all of it
            )
            self._wait_started(timeout)
            self._configure()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
            with contextlib.suppress(ProcessLookupError):  # anything it left in its group
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc = None
            self._out.close()
        if self.vhost:
            with contextlib.suppress(JasminError):
                rabbitmqctl("delete_vhost", self.vhost)
            self.vhost = ""
        if self.workdir is not None and not os.environ.get("MINGBAI_KEEP_JASMIN"):
            shutil.rmtree(self.workdir, ignore_errors=True)

    @property
    def smpp_port(self) -> int:
        return self.ports["smpp"]

    # -- diagnosis
    @property
    def cids(self) -> list[str]:
        return [self.cid] if self.connectors == 1 else [f"{self.cid}_{i}" for i in range(1, self.connectors + 1)]

    def logs(self, chars: int = 4000) -> str:
        """The tail of jasmind's output and of its message logs, for failure messages."""
        if self.workdir is None:
            return "(Jasmin never started)"
        parts = []
        for name in ("jasmind.out", "messages.log", "default-" + self.cids[0] + ".log", "smpp-server.log"):
            p = self.workdir / "logs" / name
            if p.exists():
                parts.append(f"--- {name}\n" + p.read_text(errors="replace")[-chars:])
        return "\n".join(parts) or "(no logs)"

    # -- internals
    def _config(self, venv: Path) -> str:
        spec = next(venv.glob("lib/python*/site-packages/txamqp/specs/standard/amqp0-9-1.stripped.xml"), None)
        if spec is None:
            raise JasminError(f"no txamqp AMQP 0-9-1 spec under {venv}: the Jasmin virtualenv is incomplete")
        p, store, logs = self.ports, self.workdir / "store", self.workdir / "logs"  # type: ignore[operator]
        return f"""\
[smpp-server]
id = mingbai_smpps
bind = 127.0.0.1
port = {p["smpp"]}
log_file = {logs}/smpp-server.log
dlr_expiry = {self.dlr_expiry}
billing_feature = False

[smpp-server-pb]
bind = 127.0.0.1
port = {p["smpp_pb"]}

[client-management]
bind = 127.0.0.1
port = {p["cm_pb"]}
store_path = {store}

[router]
bind = 127.0.0.1
port = {p["router_pb"]}
store_path = {store}
persistence_timer_secs = 0

[http-api]
bind = 127.0.0.1
port = {p["http"]}
billing_feature = False

[jcli]
bind = 127.0.0.1
port = {p["jcli"]}

[amqp-broker]
host = 127.0.0.1
port = 5672
username = guest
password = guest
vhost = {self.vhost}
spec = {spec}
heartbeat = 0

[redis-client]
host = 127.0.0.1
port = 6379
dbid = {self.redis_db}
poolsize = 10

[sm-listener]
publish_submit_sm_resp = False
submit_max_age_smppc_not_ready = 60
submit_retrial_delay_smppc_not_ready = 2

[dlr]
dlr_lookup_retry_delay = 1
dlr_lookup_max_retries = 5
"""

    def _alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise JasminError(f"jasmind exited with code {self.proc.returncode}:\n{self.logs()}")

    def _wait_started(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self._alive()
            out = (self.workdir / "logs/jasmind.out").read_text(errors="replace")  # type: ignore[operator]
            if "Cannot start" in out:
                raise JasminError(f"jasmind could not start a service:\n{self.logs()}")
            if "jCli Started" in out:
                return
            if time.monotonic() > deadline:
                raise JasminError(f"jasmind did not start in {timeout:.0f} s:\n{self.logs()}")
            time.sleep(0.2)

    def _configure(self) -> None:
        cli = Jcli(self.ports["jcli"])
        try:
            cli.session("group -a", {"gid": "mingbai"}, "Successfully added Group")
            cli.session(
                "user -a",
                {"username": self.user, "password": self.password, "gid": "mingbai", "uid": self.user},
                "Successfully added User",
            )
            for cid in self.cids:
                cli.session(
                    "smppccm -a",
                    {
                        "cid": cid,
                        "host": "127.0.0.1",
                        "port": self.upstream_port,
                        "username": "jasmin",
                        "password": "jasmin",
                        "bind": "transceiver",
                        "submit_throughput": self.submit_throughput,
                        "dlr_expiry": self.dlr_expiry,
                        "con_loss_delay": 1,
                        "con_fail_delay": 1,
                    },
                    "Successfully added connector",
                )
            cli.session(
                "mtrouter -a",
                {"type": "DefaultRoute", "connector": f"smppc({self.cids[0]})", "rate": "0.00"},
                "Successfully added MTRoute",
            )
            if len(self.cids) > 1:
                cli.session("filter -a", {"type": "TransparentFilter", "fid": "every_mt"}, "Successfully added Filter")
                cli.session(
                    "mtrouter -a",
                    {
                        "type": "RandomRoundrobinMTRoute",
                        "order": 10,
                        "connectors": ";".join(f"smppc({c})" for c in self.cids),
                        "filters": "every_mt",
                        "rate": "0.00",
                    },
                    "Successfully added MTRoute",
                )
            cli.session(
                "morouter -a",
                {"type": "DefaultRoute", "connector": f"smpps({self.user})"},
                "Successfully added MORoute",
            )
            for cid in self.cids:
                cli.check(f"smppccm -1 {cid}", "Successfully started")
        finally:
            cli.close()

    def connector_status(self) -> str:
        cli = Jcli(self.ports["jcli"])
        try:
            return cli.run("smppccm --list")
        finally:
            cli.close()
