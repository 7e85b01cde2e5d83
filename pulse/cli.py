"""The `pulse` command: local stack, simulators, services and the one-command platform.

Thin by design: it parses arguments, loads the configuration once and hands over to the
package. Each command imports its room lazily so that `pulse status` does not pay for Spark.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import uuid
from collections.abc import Callable

from pulse.config import ConfigError, PulseConfig, load_config
from pulse.events import source_domains


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every `pulse` sub-command."""
    parser = argparse.ArgumentParser(prog="pulse", description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="configuration file (default: conf/pulse.yaml)")
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("up", help="start the local broker, create topics, migrate databases")
    commands.add_parser(
        "setup", help="create topics and migrate databases on a running Kafka (never starts one)"
    )
    commands.add_parser("down", help="stop what `pulse up` started, and nothing else")
    commands.add_parser("status", help="what runs, and each topic's partitions and end offsets")
    run = commands.add_parser(
        "run", help="bring the platform up and stream into every topic until Ctrl-C"
    )
    run.add_argument(
        "--traffic-scale",
        type=_positive_float,
        default=1.0,
        help="multiply every simulator's rate by this (default 1: about 2,410 events/s)",
    )

    commands.add_parser(
        "dashboard", help="the Streamlit dashboard at dashboard.host:dashboard.port"
    )
    compact = commands.add_parser(
        "compact", help="rewrite the lake's small Delta files into large ones (pulse.compaction)"
    )
    compact.add_argument(
        "--repeat",
        action="store_true",
        help="again every lake.compact_every_seconds until Ctrl-C (default: once)",
    )

    simulate = commands.add_parser(
        "simulate", help="produce realistic events into a domain's topic"
    )
    simulate.add_argument("domain", choices=(*source_domains(), "all"))
    simulate.add_argument("--rate", type=_positive_float, default=1000.0, help="events per second")
    simulate.add_argument(
        "--duration", type=_positive_float, default=None, help="seconds (default: until Ctrl-C)"
    )
    simulate.add_argument("--seed", type=int, default=7, help="same seed, same events")
    simulate.add_argument(
        "--bad-ratio", type=_ratio, default=0.0, help="share of malformed records, 0 to 1"
    )
    simulate.add_argument(
        "--start",
        default=None,
        help="event time of the first event, ISO-8601 (default: now); fixes the output entirely",
    )
    simulate.add_argument("--quiet", action="store_true", help="no progress bar")
    simulate.add_argument(
        "--via-api",
        action="store_true",
        help="send through the ingest API (HTTP clients) instead of producing to Kafka",
    )
    simulate.add_argument(
        "--clients", type=_positive_int, default=None, help="with --via-api: concurrent clients (4)"
    )
    simulate.add_argument(
        "--api-url", default=None, help="with --via-api: the API's URL (default: from config)"
    )
    simulate.add_argument(
        "--api-wait",
        type=_positive_float,
        default=None,
        help="with --via-api: seconds to wait for the API to answer at start (10)",
    )

    serve = commands.add_parser("serve", help="run a service until SIGTERM or Ctrl-C")
    serve.add_argument("service", choices=tuple(_SERVICES))
    serve.add_argument(
        "--host",
        default=None,
        help="address to listen on (ingest, registry; default: from config)",
    )
    serve.add_argument(
        "--port",
        type=_port,
        default=None,
        help="port (ingest, registry, gateway; default: from config)",
    )
    serve.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        help="ingest: uvicorn worker processes sharing the port, each with its own producer (1)",
    )
    serve.add_argument("--cluster", default=None, help="gateway, publisher: the cluster's name")
    serve.add_argument("--node", default=None, help="gateway: the node's id")
    serve.add_argument(
        "--from-beginning",
        action="store_true",
        help="publisher: relay emoji.aggregated from its beginning, not from its end",
    )

    client = commands.add_parser(
        "client", help="register as a viewer of a match and print what its node pushes"
    )
    client.add_argument("--match", required=True, help="the match to follow")
    client.add_argument("--client-id", default=None, help="default: a random id")
    client.add_argument("--subscriber", default=None, help="also take this subscriber's updates")
    client.add_argument(
        "--count", type=_positive_int, default=None, help="stop after N messages (welcome aside)"
    )
    client.add_argument(
        "--seconds", type=_positive_float, default=None, help="stop after T seconds"
    )
    return parser


def _check_serve_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Options of one service given to another are errors, not silently ignored."""
    if args.service != "ingest" and args.workers != 1:
        parser.error("--workers is an option of `serve ingest`")
    needs_cluster = args.service in ("gateway", "publisher")
    if needs_cluster and not args.cluster:
        parser.error(f"`serve {args.service}` needs --cluster")
    if args.cluster and not needs_cluster:
        parser.error("--cluster is an option of `serve gateway` and `serve publisher`")
    if (args.service == "gateway") != bool(args.node):
        parser.error("`serve gateway` needs --node, and only it takes one")
    if args.from_beginning and args.service != "publisher":
        parser.error("--from-beginning is an option of `serve publisher`")
    if args.host and args.service in ("gateway", "publisher", "cdc", "forwarder"):
        parser.error(f"--host is not an option of `serve {args.service}`")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `pulse` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "simulate" and not args.via_api:
        given = [name for name in ("clients", "api_url", "api_wait") if getattr(args, name)]
        if given:
            parser.error(f"--{given[0].replace('_', '-')} needs --via-api")
    if args.command == "serve":
        _check_serve_options(parser, args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if args.config:
        # Child processes (`pulse run` starts simulators and jobs) must read the same file.
        os.environ["PULSE_CONFIG"] = os.path.abspath(args.config)
    try:
        conf = load_config(args.config)
    except ConfigError as exc:
        print(f"pulse: configuration error: {exc}", file=sys.stderr)
        return 2
    return _COMMANDS[args.command](args, conf)


# One handler per command and per service (each imports what it runs: `pulse status` must not
# pay for Spark or uvicorn). Every name argparse accepts has its entry, so nothing falls
# through to another command.
Handler = Callable[[argparse.Namespace, PulseConfig], int]


def _stack(args: argparse.Namespace, conf: PulseConfig) -> int:
    from pulse.local import stack

    return int(getattr(stack, args.command)(conf))


def _run(args: argparse.Namespace, conf: PulseConfig) -> int:
    from pulse.local.run import run

    return run(conf, traffic_scale=args.traffic_scale)


def _dashboard(args: argparse.Namespace, conf: PulseConfig) -> int:
    from pulse.dashboard.server import serve

    return serve(conf)


def _compact(args: argparse.Namespace, conf: PulseConfig) -> int:
    from pulse.compaction import compact_lake

    return compact_lake(conf, conf.lake.compact_every_seconds if args.repeat else None)


def _client(args: argparse.Namespace, conf: PulseConfig) -> int:
    from pulse.services.gateway.client import run_client

    client_id = args.client_id or f"client-{uuid.uuid4().hex[:12]}"
    return run_client(conf, args.match, client_id, args.subscriber, args.count, args.seconds)


def _simulate(args: argparse.Namespace, conf: PulseConfig) -> int:
    from pulse.simulate.clients import ApiOptions
    from pulse.simulate.runner import simulate

    via_api = None
    if args.via_api:
        via_api = ApiOptions(
            clients=args.clients or ApiOptions.clients,
            url=args.api_url,
            wait=ApiOptions.wait if args.api_wait is None else args.api_wait,
        )
    return simulate(
        conf,
        args.domain,
        rate=args.rate,
        duration=args.duration,
        seed=args.seed,
        bad_ratio=args.bad_ratio,
        start=args.start,
        progress=not args.quiet,
        via_api=via_api,
    )


def _serve_ingest(args: argparse.Namespace, conf: PulseConfig) -> int:
    from pulse.services.ingest.server import serve

    return serve(conf, host=args.host, port=args.port, workers=args.workers)


def _serve_registry(args: argparse.Namespace, conf: PulseConfig) -> int:
    from pulse.services.registry.server import serve

    return serve(conf, host=args.host, port=args.port)


def _serve_cdc(args: argparse.Namespace, conf: PulseConfig) -> int:
    from pulse.services.cdc.relay import serve

    return serve(conf)


def _serve_gateway(args: argparse.Namespace, conf: PulseConfig) -> int:
    from pulse.services.gateway.server import serve

    return serve(conf, args.cluster, args.node, port=args.port)


def _serve_publisher(args: argparse.Namespace, conf: PulseConfig) -> int:
    from pulse.services.publisher.relay import serve

    return serve(conf, args.cluster, from_beginning=args.from_beginning)


def _serve_forwarder(args: argparse.Namespace, conf: PulseConfig) -> int:
    from pulse.services.forwarder import serve

    return serve(conf)


_SERVICES: dict[str, Handler] = {
    "ingest": _serve_ingest,
    "registry": _serve_registry,
    "cdc": _serve_cdc,
    "gateway": _serve_gateway,
    "publisher": _serve_publisher,
    "forwarder": _serve_forwarder,
}


def _serve(args: argparse.Namespace, conf: PulseConfig) -> int:
    return _SERVICES[args.service](args, conf)


_COMMANDS: dict[str, Handler] = {
    "up": _stack,
    "setup": _stack,
    "down": _stack,
    "status": _stack,
    "run": _run,
    "dashboard": _dashboard,
    "compact": _compact,
    "simulate": _simulate,
    "serve": _serve,
    "client": _client,
}


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"must be a TCP port, 1 to 65535, got {text}")
    return value


def _ratio(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value
