"""``voicebot serve``'s options: the flags, their checks, and ``ServeOptions``.

Apart from the server (``supervisor.py``, which imports FastAPI) so the CLI can build its
parser without loading the server.
"""

from __future__ import annotations

import argparse
import ipaddress
import math
import os
import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from voicebot.errors import ConfigError

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
#: The ports there are (0: any free one, chosen when the server starts).
MAX_PORT = 65535
#: What a call hears when the server drains and its time is up.
DEFAULT_GOODBYE = "I'm sorry, this line is closing now. Please call again. Goodbye."
#: The ICE server URLs aiortc uses (RFC 7064/7065; it skips ``stuns:`` and other
#: transports without a word): ``stun:HOST[:PORT]``, ``turn:HOST[:PORT][?transport=udp|tcp]``,
#: ``turns:HOST[:PORT][?transport=tcp]``.
ICE_URL = re.compile(
    r"(?P<scheme>stun|turn|turns):(?P<host>[A-Za-z0-9.-]+)(?::(?P<port>[0-9]{1,5}))?"
    r"(?:\?transport=(?P<transport>udp|tcp))?"
)
ICE_FORM = "stun:HOST[:PORT], turn:HOST[:PORT][?transport=udp|tcp] or turns:HOST[:PORT]"
PUBLIC_URL_FORM = "http(s)://HOST[:PORT][/PATH], e.g. https://bot.example.com"


@dataclass
class ServeOptions:
    """How ``voicebot serve`` runs (the CLI's flags)."""

    target: str
    workers: int = 2
    calls_per_worker: int = 1
    host: str = "127.0.0.1"
    port: int = 7860
    token: str | None = None
    drain_secs: float = 30.0
    goodbye: str = DEFAULT_GOODBYE
    loopback_ice: bool = True
    ice_servers: list[str] = field(default_factory=list)
    verbose: bool = False
    hang_secs: float = 10.0
    redis_url: str | None = None  # share a host registry with other hosts (hosts.py)
    advertise: str | None = None  # this host's URL as the others reach it
    per_client: int = 5  # new calls one client may start per 10 s (0: no limit)
    public_url: str | None = None  # how carriers reach this server (phone stream URLs)
    overcommit: bool = False  # take more calls than the host's cores keep in real time
    relay_phone: bool = False  # relay phone media through the supervisor (not handed over)

    def check(self) -> None:
        """Refuse what cannot work, naming the fix."""
        check_addresses(self.host, self.port, self.ice_servers, self.public_url)
        if self.workers < 1:
            raise ConfigError(f"--workers {self.workers}: give 1 or more")
        if self.calls_per_worker < 1:
            raise ConfigError(f"--calls-per-worker {self.calls_per_worker}: give 1 or more")
        if self.per_client < 0:
            raise ConfigError(f"--per-client {self.per_client}: give 0 (no limit) or more")
        if self.hang_secs <= 0:
            raise ConfigError(f"--hang-timeout {self.hang_secs:g}: give more than 0 seconds")
        if self.drain_secs < 0:
            raise ConfigError(f"--drain-timeout {self.drain_secs:g}: give 0 or more seconds")
        if self.host not in LOOPBACK_HOSTS and not self.token:
            raise ConfigError(
                f"--host {self.host} is reachable from other machines: give a token "
                "(--token or VOICEBOT_SERVE_TOKEN) that every request must carry"
            )
        if self.advertise is not None and not self.redis_url:
            raise ConfigError("--advertise is only for --redis (the URL other hosts reach)")
        if self.redis_url and self.advertise is None and self.host in ("0.0.0.0", "::"):
            raise ConfigError(
                f"--redis with --host {self.host}: give --advertise http://ADDRESS:PORT, "
                "the URL the other hosts reach this one on (e.g. the pod IP)"
            )
        if self.token is not None and len(self.token) < 16:
            raise ConfigError("the serve token is too short: use 16 characters or more")


def check_addresses(
    host: str, port: int, ice_servers: Sequence[str], public_url: str | None
) -> None:
    """The addresses a server is given: where it listens, its ICE servers, its public URL."""
    check_host(host)
    check_port(port)
    for url in ice_servers:
        check_ice_server(url)
    if public_url is not None:
        check_public_url(public_url)


def check_port(port: int) -> None:
    """Refuse a port no socket can have (the OS would take 99999 as another port)."""
    if not 0 <= port <= MAX_PORT:
        raise ConfigError(f"--port {port}: give a port from 0 to {MAX_PORT} (0: any free port)")


def check_host(host: str) -> None:
    """Refuse a ``--host`` no socket can listen on, before anything else is said about it:
    an IP address that does not parse (``999.1.1.1``, looked at without a DNS query) or a
    name this machine does not resolve."""
    problem = (
        f"--host {host}: not an address or a name this machine resolves (give e.g. "
        "127.0.0.1, 0.0.0.0 for every interface, or localhost)"
    )
    if not host.strip():
        raise ConfigError("--host is empty: give e.g. 127.0.0.1, or 0.0.0.0 for every interface")
    if host != host.strip():
        raise ConfigError(problem)
    if re.fullmatch(r"[0-9.]+", host) or ":" in host:  # meant as an IPv4 or IPv6 address
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ConfigError(problem) from None
        return
    try:
        socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):  # socket.gaierror; a label the IDNA codec refuses
        raise ConfigError(problem) from None


def check_ice_server(url: str) -> None:
    """Refuse an ``--ice-server`` aiortc would not use (it drops a bad one without a word)."""
    match = ICE_URL.fullmatch(url)
    usable = match is not None
    if match is not None:
        port, scheme, transport = match["port"], match["scheme"], match["transport"]
        if port is not None and not 0 < int(port) <= MAX_PORT:
            usable = False
        if transport is not None and (scheme == "stun" or (scheme, transport) == ("turns", "udp")):
            usable = False  # a STUN URL has no transport; TURN over TLS is TCP
    if not usable:
        raise ConfigError(f"--ice-server {url}: not a STUN/TURN URL; give {ICE_FORM}")


def check_public_url(url: str) -> None:
    """Refuse a ``--public-url`` the phone stream URLs could not be built on."""
    parts = urlsplit(url)
    bad = parts.scheme not in ("http", "https") or not parts.hostname
    bad = bad or bool(parts.query or parts.fragment or parts.username or parts.password)
    bad = bad or any(c.isspace() for c in url)
    if not bad:
        try:
            bad = parts.port == 0
        except ValueError:  # not a number, or beyond 65535
            bad = True
    if bad:
        raise ConfigError(f"--public-url {url}: not a base URL; give {PUBLIC_URL_FORM}")


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """The server's flags (the target, ``--host``, ``--port`` and ``-v`` are the CLI's)."""
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes, each with the bot's models loaded before a call (default 2, "
        "or what the host's cores answer in real time for a bot with in-process models)",
    )
    # Worker-only flags default to None (ServeOptions' default applies): --in-process can
    # then tell one given from one left alone, and refuse it (check_in_process_args).
    parser.add_argument(
        "--calls-per-worker", type=int, default=None, help="calls one worker takes at once (1)"
    )
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=None,
        help="on SIGTERM, seconds calls may run on before they are ended with a goodbye",
    )
    parser.add_argument(
        "--token",
        default=None,
        help="bearer token every request must carry (env VOICEBOT_SERVE_TOKEN); "
        "required off loopback",
    )
    parser.add_argument(
        "--ice-server",
        action="append",
        default=[],
        metavar="URL",
        help="STUN/TURN URL for callers on other networks (repeatable)",
    )
    parser.add_argument(
        "--redis",
        metavar="URL",
        help="share a registry of hosts and calls with other hosts (env VOICEBOT_REDIS_URL)",
    )
    parser.add_argument(
        "--advertise",
        metavar="URL",
        help="with --redis: this host's URL as the other hosts reach it (default: --host:--port)",
    )
    parser.add_argument(
        "--hang-timeout",
        type=float,
        default=None,
        help="seconds a worker may leave heartbeats unanswered before it is replaced",
    )
    parser.add_argument(
        "--per-client",
        type=int,
        default=None,  # 5 (ServeOptions.per_client)
        help="new calls one client address may start per 10 s (0: no limit); behind a proxy "
        "set FORWARDED_ALLOW_IPS to it, or every caller counts as the proxy",
    )
    parser.add_argument(
        "--public-url",
        metavar="URL",
        help="how carriers reach this server, e.g. https://bot.example.com (phone calls' "
        "stream URLs; default: the Host the webhook came to)",
    )
    parser.add_argument(
        "--overcommit",
        action="store_true",
        help="take more calls than this host's cores answer in real time (slower answers)",
    )
    parser.add_argument(
        "--relay-phone",
        action="store_true",
        help="relay phone calls' media through the supervisor instead of handing each "
        "call's socket to its worker (the supervisor then spends ~1-3 %% of a core per "
        "call; for comparison)",
    )
    parser.add_argument(
        "--text",
        action="store_true",
        help="serve the bot in text (no audio): a JSON/WebSocket API for chat platforms, "
        "in one process (docs/text_channels.md)",
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="one process for every call (development; no isolation between calls)",
    )
    parser.add_argument(
        "--max-sessions",
        type=int,
        default=None,  # 8 with --in-process (offers.MAX_SESSIONS: importing it pulls FastAPI)
        help="with --in-process only: most calls at once (default 8; each holds ~20 MB); "
        "beyond: 503. Served by workers, the most is --workers x --calls-per-worker",
    )


def options_from_args(args: argparse.Namespace) -> ServeOptions:
    """``ServeOptions`` from parsed flags and the environment, checked."""
    from voicebot.transports.webrtc import loopback_ice_from_env

    given = {  # flags left alone keep ServeOptions' defaults
        name: value
        for name, value in (
            ("calls_per_worker", args.calls_per_worker),
            ("drain_secs", args.drain_timeout),
            ("hang_secs", args.hang_timeout),
            ("per_client", args.per_client),
        )
        if value is not None
    }
    options = ServeOptions(
        target=args.target,
        workers=args.workers,
        host=args.host,
        port=args.port,
        token=args.token or os.environ.get("VOICEBOT_SERVE_TOKEN") or None,
        ice_servers=list(args.ice_server),
        redis_url=args.redis or os.environ.get("VOICEBOT_REDIS_URL") or None,
        advertise=args.advertise,
        public_url=args.public_url,
        overcommit=args.overcommit,
        relay_phone=args.relay_phone,
        loopback_ice=loopback_ice_from_env(default=args.host in LOOPBACK_HOSTS),
        verbose=args.verbose,
        **given,
    )
    options.check()
    return options


def host_cores() -> int:
    """The CPU cores this process may run on (its affinity mask: a container's cpuset)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def cores_needed(bot: Any) -> float | None:
    """Cores one call of ``bot`` needs (the most any stage says), or None."""
    needs = [n for stage in bot.model_stages() if (n := stage.cores_per_call()) is not None]
    return max(needs) if needs else None


def default_workers(bot: Any, cores: int | None = None) -> int:
    """``--workers`` when not given: 2, or as many calls as the host's cores answer in real
    time for a bot with in-process models (1 for the offline bot on 2 cores)."""
    need = cores_needed(bot)
    if need is None:
        return 2
    return max(1, math.floor((cores if cores is not None else host_cores()) / need))


def check_capacity(bot: Any, options: ServeOptions, cores: int | None = None) -> None:
    """Refuse more calls than this host's cores answer in real time, when a stage says how
    many cores a call needs (the offline stack: ``LlamaLLM.cores_per_call``), naming the
    fix; ``--overcommit`` accepts slower answers instead."""
    need = cores_needed(bot)
    if need is None or options.overcommit:
        return
    cores = cores if cores is not None else host_cores()
    most = max(1, math.floor(cores / need))
    asked = options.workers * options.calls_per_worker
    if asked > most:
        raise ConfigError(
            f"this bot runs its models in-process and a call needs about {need:g} cores to "
            f"be answered in real time (docs/serving.md); this host has {cores}, so at most "
            f"{most} call(s) at once: give --workers {most} --calls-per-worker 1, or "
            "--overcommit to take more calls with slower answers"
        )


def check_serve_args(args: argparse.Namespace) -> None:
    """What ``voicebot serve``'s flags mean, checked before the bot is loaded (every mode:
    workers, ``--in-process``, ``--text``)."""
    check_addresses(args.host, args.port, args.ice_server, args.public_url)
    if args.max_sessions is not None:
        if not args.in_process:
            raise ConfigError(
                f"--max-sessions {args.max_sessions} is for --in-process only: served by "
                "workers, at most --workers x --calls-per-worker calls run at once (give those)"
            )
        if args.max_sessions < 1:
            raise ConfigError(f"--max-sessions {args.max_sessions}: give 1 or more")
    if args.in_process:
        check_in_process_args(args)


#: What ``--in-process`` (one process, no workers, no phone routes, no host registry) cannot
#: do: flags for the workers' supervisor, each with whether it was given.
WORKER_ONLY_FLAGS: dict[str, Callable[[argparse.Namespace], bool]] = {
    "--workers": lambda a: a.workers is not None,
    "--calls-per-worker": lambda a: a.calls_per_worker is not None,
    "--drain-timeout": lambda a: a.drain_timeout is not None,
    "--hang-timeout": lambda a: a.hang_timeout is not None,
    "--redis": lambda a: a.redis is not None,
    "--advertise": lambda a: a.advertise is not None,
    "--public-url": lambda a: a.public_url is not None,
    "--overcommit": lambda a: a.overcommit,
    "--relay-phone": lambda a: a.relay_phone,
}


def check_in_process_args(args: argparse.Namespace) -> None:
    """``--in-process`` honours --host, --port, -v, --ice-server, --per-client and
    --max-sessions; refuse a flag it would ignore (before, it was dropped without a word),
    and the token or Redis URL the workers would take from the environment."""
    if args.text:
        raise ConfigError("--text and --in-process: give one (--text serves in one process)")
    given = [flag for flag, was_given in WORKER_ONLY_FLAGS.items() if was_given(args)]
    if given:
        it = "it is" if len(given) == 1 else "they are"
        raise ConfigError(
            f"{', '.join(given)} with --in-process: {it} not used in one process; drop "
            f"{'it' if len(given) == 1 else 'them'}, or drop --in-process"
        )
    if args.per_client is not None and args.per_client < 0:
        raise ConfigError(f"--per-client {args.per_client}: give 0 (no limit) or more")
    if args.token or args.host not in LOOPBACK_HOSTS:
        raise ConfigError(
            "--in-process has no token and no isolation between calls: keep it on "
            "loopback without --token (development), or drop --in-process"
        )
    # The workers read these from the environment (options_from_args): a token there is not
    # asked of anyone in one process, nor is that Redis shared, so refuse them, not drop them.
    if os.environ.get("VOICEBOT_SERVE_TOKEN"):
        raise ConfigError(
            "VOICEBOT_SERVE_TOKEN is set, and --in-process has no token: unset it "
            "(development, on loopback), or drop --in-process"
        )
    if os.environ.get("VOICEBOT_REDIS_URL"):
        raise ConfigError(
            "VOICEBOT_REDIS_URL is set, and --in-process shares no host registry: unset it, "
            "or drop --in-process"
        )
