"""The ``complaintflow`` command."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from kernel.settings import Settings, get_settings
from services.intake.channels import CHANNELS


class _ChannelChoice(click.Choice):
    """The intake channels registered when the command runs (a channel module registered after this module was
    imported counts too)."""

    def __init__(self) -> None:
        super().__init__(())

    @property  # type: ignore[override]
    def choices(self) -> tuple[str, ...]:
        return tuple(CHANNELS)

    @choices.setter
    def choices(self, _: object) -> None:
        pass  # always the registry's


CHANNEL_CHOICE = _ChannelChoice()


def _settings() -> Settings:
    return get_settings()


def _bootstrap(settings: Settings) -> str:
    """Kafka of the configured cluster, else of the stack ``complaintflow run`` started on this machine."""
    from kernel.runtime import read_stack_file

    if settings.kafka_bootstrap_servers:
        return settings.kafka_bootstrap_servers
    stack = read_stack_file(settings)
    if stack:
        return str(stack["kafka_bootstrap_servers"])
    raise click.ClickException(
        "no Kafka to talk to: start `complaintflow run` in another terminal, or set KAFKA_BOOTSTRAP_SERVERS"
    )


def _serve(roles: list[str], options: dict[str, object] | None = None) -> int:
    """Run worker roles in this process, on the configured event loop (chosen before any loop exists)."""
    from complaintflow.runner import serve
    from kernel.eventloop import install_event_loop

    settings = _settings()
    install_event_loop(settings.event_loop)
    return serve(roles, settings, options)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="complaintflow")
def main() -> None:
    """complaintflow: take in bank customer complaints from every channel, route them, keep customers informed."""


# --- running ----------------------------------------------------------------------------------------
@main.command()
def run() -> None:
    """All workers in one process, plus the HTTP and SMTP intake servers and the local sinks.

    Starts an embedded broker and Redis when KAFKA_BOOTSTRAP_SERVERS / REDIS_URL are not set.
    """
    sys.exit(_serve(["intake", "router", "notifier"]))


@main.command()
@click.option("--channel", "channels", multiple=True, type=CHANNEL_CHOICE, help="Only these channels.")
@click.option("--no-http", is_flag=True, help="Do not serve the HTTP entry points.")
@click.option("--no-smtp", is_flag=True, help="Do not serve the SMTP entry point.")
def intake(channels: tuple[str, ...], no_http: bool, no_smtp: bool) -> None:
    """The intake workers alone (one agent per channel) with their HTTP and SMTP entry points."""
    options = {"channels": list(channels) or None, "http": not no_http, "smtp": not no_smtp}
    sys.exit(_serve(["intake"], options))


@main.command()
def router() -> None:
    """The router worker alone: classification, routing, status updates, SLA clock."""
    sys.exit(_serve(["router"]))


@main.command()
def notifier() -> None:
    """The notifier worker alone: e-mail and SMS to customers."""
    sys.exit(_serve(["notifier"]))


# --- topics and schemas -----------------------------------------------------------------------------
@main.group()
def topics() -> None:
    """Kafka topics of the design."""


@topics.command("create")
@click.option(
    "--acls", is_flag=True, help="Also grant each service, department and adapter principal its topics (SASL brokers)."
)
def topics_create(acls: bool) -> None:
    """Create every topic with its partition count (existing ones are left alone)."""
    from kernel.kafka import create_all_topics
    from kernel.topics import Topics

    settings = _settings()
    created = create_all_topics(settings, _bootstrap(settings))
    for name, partitions in Topics(settings.topic_prefix).all(settings.topic_partitions).items():
        click.echo(f"{'created' if name in created else 'exists '}  {name}  ({partitions} partitions)")
    if acls:
        from complaintflow.acls import apply_acls

        count = apply_acls(_bootstrap(settings), Topics(settings.topic_prefix), settings.group_prefix)
        click.echo(f"ACLs granted: {count}")


@topics.command("list")
def topics_list() -> None:
    """The topic registry: name, key and value of every topic."""
    from kernel.topics import registry

    for spec in registry():
        click.echo(f"{spec.name:<32} key: {spec.key:<20} value: {spec.value}")


@main.group()
def schemas() -> None:
    """JSON Schemas of the records on the topics."""


@schemas.command("export")
@click.option("--check", is_flag=True, help="Fail if the files in schemas/ are stale instead of writing them.")
def schemas_export(check: bool) -> None:
    """Write schemas/*.schema.json from the pydantic models."""
    from schemas.export import SCHEMA_DIR, export_json_schemas, json_schema_files

    if check:
        stale = [
            name
            for name, text in json_schema_files().items()
            if not (SCHEMA_DIR / name).exists() or (SCHEMA_DIR / name).read_text(encoding="utf-8") != text
        ]
        if stale:
            raise click.ClickException(
                "stale JSON Schemas: " + ", ".join(stale) + " (run complaintflow schemas export)"
            )
        click.echo("JSON Schemas are up to date")
        return
    for path in export_json_schemas():
        click.echo(f"wrote {path}")


# --- classification ---------------------------------------------------------------------------------
@main.command()
@click.argument("file", type=click.File("r", encoding="utf-8"), default="-")
def classify(file: click.utils.LazyFile) -> None:
    """Classify JSON lines {"id", "text", "subject"?, "channel"?} from FILE or stdin; needs no broker or Redis."""
    from services.router.classifier import Classifier
    from services.router.decide import classify_records
    from services.router.routing import RoutingTable

    settings = _settings()
    classifier = Classifier.load()
    table = RoutingTable.load(settings.routing_table)
    out = sys.stdout
    # Chunks go through the batch path (one vectorisation per chunk); output keeps the input order.
    chunk: list[tuple[dict[str, object], bool]] = []  # (record, or the error line for an invalid one)

    def flush() -> None:
        classified = iter(
            classify_records([r for r, invalid in chunk if not invalid], classifier, table, settings.review_below)
        )
        lines = (r if invalid else next(classified) for r, invalid in chunk)
        out.write("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines))
        chunk.clear()

    for number, line in enumerate(file, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            chunk.append(({"id": None, "line": number, "error": f"invalid JSON line: {exc}"}, True))
            continue
        chunk.append((record, False))
        if len(chunk) >= 512:
            flush()
    flush()
    out.flush()


# --- departments ------------------------------------------------------------------------------------
@main.group()
def dept() -> None:
    """Department side: read your queue, send status updates."""


@dept.command("tail")
@click.argument("department")
@click.option("--group", default=None, help="Consumer group (default: complaintflow-dept-<DEPT>).")
@click.option("--idle-timeout", type=float, default=None, help="Stop after this many seconds without a message.")
def dept_tail(department: str, group: str | None, idle_timeout: float | None) -> None:
    """Print what DEPARTMENT must act on as it arrives (and commit it as handled).

    Each record starts with its kind: complaint, transfer_in, follow_up, need_info_reply, sla_warning,
    sla_breach or escalation.
    """
    from services.router.department_client import DepartmentClient, InvalidUpdate

    settings = _settings()
    try:
        client = DepartmentClient(_bootstrap(settings), department, settings, group_id=group)
    except InvalidUpdate as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    try:
        for record in client.records(idle_timeout_s=idle_timeout):
            for line in _describe_record(record):
                click.echo(line)
    except KeyboardInterrupt:
        pass
    finally:
        client.close()


def _describe_record(record: object) -> list[str]:
    """A department record as the lines ``dept tail`` prints: kind and number first, then what to read."""
    from schemas import DepartmentRecord, DepartmentRecordKind

    assert isinstance(record, DepartmentRecord)
    routed, kind = record.routed, record.kind
    c = routed.complaint
    head = f"[{kind.value}] {c.complaint_number}  {routed.severity.value:<8} "
    flags = f"  flags: {', '.join(c.flags)}" if c.flags else ""
    if kind in (DepartmentRecordKind.complaint, DepartmentRecordKind.transfer_in):
        lines = [
            head + f"{routed.business_line.value}/{routed.reason.value}  via {c.channel.value}  "
            f"due {routed.deadlines.decision_by:%Y-%m-%d}{flags}  [{'; '.join(routed.explanations[:3])}]"
        ]
        if kind == DepartmentRecordKind.transfer_in:
            lines.append(f"    {routed.explanations[-1] if routed.explanations else 'transferred'}")
        if "no_contact" in c.flags:
            lines.append("    no usable contact: reach the customer another way (hotline call-back)")
        return [*lines, f"    {c.redacted_text[:160]}"]
    if record.follow_up is not None:
        f = record.follow_up
        via = f.channel.value if f.channel else c.channel.value
        lines = [head + f"customer wrote via {via} at {f.received_at:%Y-%m-%d %H:%M}{flags}"]
        lines += [f"    {f.text[:160]}"] if f.text else []
        lines += [
            f"    attachment: {a.filename or '(no name)'} ({a.content_type}, {a.size} bytes)" for a in f.attachments
        ]
        return lines
    if record.alert is not None:
        what = "passed" if kind == DepartmentRecordKind.sla_breach else "nears"
        due = f"{record.alert.deadline:%Y-%m-%d %H:%M %Z}"
        return [
            head + f"{record.alert.deadline_kind} deadline {what}: due {due}  (owner {routed.department.value}){flags}"
        ]
    if record.escalation is not None:
        e = record.escalation
        return [
            head + f"escalated from {e.from_department.value} ({e.cause}){flags}  "
            f"[{'; '.join(routed.explanations[:3])}]",
            f"    {c.redacted_text[:160]}",
        ]
    return [head + c.complaint_number]


@dept.command("update")
@click.argument("number")
@click.option(
    "--status",
    required=True,
    type=click.Choice(
        [
            "accepted",
            "investigating",
            "need_info",
            "proposal",
            "resolved",
            "rejected",
            "transferred",
            "extended",
            "closed",
        ]
    ),
)
@click.option("--note", default=None, help="Shown to the customer (need_info, resolved).")
@click.option("--to", "to_department", default=None, help="Target department of a transfer (required for it).")
@click.option("--reason", default=None, help="Why (transfer, extension, rejection).")
@click.option("--approver", default=None, help="Approver of a second extension.")
@click.option("--department", default="consumer_protection", help="The department sending the update.")
@click.option("--wait", "wait_s", type=float, default=30.0, show_default=True, help="Seconds to wait for the answer.")
@click.option("--no-wait", is_flag=True, help="Send and return without waiting for the router's answer.")
def dept_update(
    number: str,
    status: str,
    note: str | None,
    to_department: str | None,
    reason: str | None,
    approver: str | None,
    department: str,
    wait_s: float,
    no_wait: bool,
) -> None:
    """Send a StatusUpdate for complaint NUMBER and print the router's answer.

    Exit status: 0 applied (or sent, with --no-wait), 1 refused (the reason is printed), 2 invalid update
    (nothing sent), 3 no answer within --wait seconds.
    """
    from services.router.department_client import DepartmentClient, InvalidUpdate, NoOutcome, check_update
    from services.router.routing import RoutingTable

    settings = _settings()
    try:
        number, *_ = check_update(
            number,
            status,
            RoutingTable.load(settings.routing_table),
            department=department,
            to_department=to_department,
            approver=approver,
        )
    except InvalidUpdate as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    client = DepartmentClient(_bootstrap(settings), department, settings)
    fields = {"note": note, "to_department": to_department, "reason": reason, "approver": approver}
    try:
        if no_wait:
            update = client.update(number, status, **fields)
            click.echo(f"sent {update.status.value} for {update.complaint_number} (update id {update.update_id})")
            return
        outcome = client.update_and_wait(number, status, **fields, timeout_s=wait_s)
    except NoOutcome as exc:
        click.echo(f"no answer: {exc}", err=True)
        sys.exit(3)
    finally:
        client.close()
    if outcome.outcome.value == "applied":
        detail = f": {outcome.detail}" if outcome.detail else ""
        click.echo(f"applied {outcome.status} to {outcome.complaint_number}{detail} (update id {outcome.update_id})")
        return
    click.echo(
        f"refused {outcome.status} for {outcome.complaint_number}: {outcome.reason} (update id {outcome.update_id})"
    )
    sys.exit(1)


# --- intake tools -----------------------------------------------------------------------------------
@main.command("import-mail")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
def import_mail(path: Path) -> None:
    """Import .eml files (a file or a folder) or an mbox file into the e-mail intake."""
    from kernel.progress import progress
    from services.intake.mail_import import iter_messages
    from services.intake.publisher import ComplaintPublisher

    settings = _settings()
    publisher = ComplaintPublisher(
        _bootstrap(settings), settings.topic_prefix, source="import", max_record_bytes=settings.kafka_max_record_bytes
    )
    messages = list(iter_messages(path))
    with progress() as bar:
        task = bar.add_task("importing mail", total=len(messages))
        for raw in messages:
            publisher.publish_email(raw)
            bar.advance(task)
    publisher.flush()
    publisher.close()
    click.echo(f"imported {len(messages)} message(s) from {path}")


@main.command()
@click.option("--timeout", type=float, default=90.0, show_default=True, help="Seconds to wait for every sample.")
def demo(timeout: float) -> None:
    """Send built-in sample complaints (every channel, Chinese and English) and show where each went."""
    from complaintflow.demo import run_demo

    sys.exit(run_demo(_settings(), timeout))


@main.group()
def sla() -> None:
    """The SLA clock."""


@sla.command("sweep")
@click.option("--at", "at", default=None, help="Sweep as of this instant (ISO 8601, default now).")
def sla_sweep(at: str | None) -> None:
    """Emit every SLA warning and breach due at --at, once each (the router also does this continuously)."""
    import asyncio
    from datetime import UTC, datetime

    from kernel.kafka import KafkaSender
    from kernel.runtime import Runtime, resolve_redis_url
    from kernel.topics import Topics
    from services.router.classifier import Classifier
    from services.router.lifecycle import Lifecycle
    from services.router.routing import RoutingTable
    from services.router.sla_clock import SlaClock

    settings = _settings()
    instant = datetime.fromisoformat(at) if at else datetime.now(UTC)
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=settings.tz)
    bootstrap, redis_url = _bootstrap(settings), resolve_redis_url(settings)
    if not redis_url:
        raise click.ClickException("no Redis: start `complaintflow run` or set REDIS_URL")
    sender = KafkaSender(bootstrap)

    async def sweep() -> int:
        runtime = Runtime(settings, bootstrap, redis_url, "", 0, Topics(settings.topic_prefix))
        lifecycle = Lifecycle(runtime, sender, Classifier.load(), RoutingTable.load(settings.routing_table))
        try:
            return await SlaClock(runtime, lifecycle).sweep(instant)
        finally:
            await runtime.redis.aclose()

    try:
        emitted = asyncio.run(sweep())
    finally:
        sender.close()
    click.echo(f"emitted {emitted} SLA alert(s) due at {instant.isoformat()}")


# --- operations -------------------------------------------------------------------------------------
@main.command()
@click.option("--since", default="30d", show_default=True, help="Start: a duration back from now (30d, 12h) or a date.")
@click.option("--until", "until", default=None, help="End date (YYYY-MM-DD, inclusive); default now.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder for the report  [default: report/ in COMPLAINTFLOW_VAR_DIR]",
)
@click.option("--format", "fmt", type=click.Choice(["html", "csv", "json"]), default="html", show_default=True)
def report(since: str, until: str | None, out_dir: Path | None, fmt: str) -> None:
    """The complaint ledger: counts, trends, recurring problems, SLA and satisfaction, from the event log."""
    from complaintflow.report.command import run_report

    settings = _settings()
    out_dir = out_dir or settings.var_dir / "report"
    path = run_report(settings, _bootstrap(settings), since=since, until=until, out_dir=out_dir, fmt=fmt)
    click.echo(f"wrote {path}")


@main.command(hidden=True, context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
def model() -> None:
    """Training the router's model is a tool beside the product (it needs scikit-learn, the workers do not)."""
    raise click.ClickException(
        "training lives in the repository's tools: `python -m tools.model retrain` folds the departments' "
        "transfers into the next model (`build`, `evaluate`: see --help)"
    )


@main.group()
def deadletter() -> None:
    """Inspect and re-drive dead letters after fixing their cause."""


@deadletter.command("list")
@click.option("--limit", type=int, default=50, show_default=True)
@click.option("--stage", default=None, help="Only this stage (e.g. intake.email, router, notifier.email).")
def deadletter_list(limit: int, stage: str | None) -> None:
    """The most recent dead letters: id, stage, source and reason."""
    from kernel.deadletters import list_dead_letters

    settings = _settings()
    for line in list_dead_letters(settings, _bootstrap(settings), limit=limit, stage=stage):
        click.echo(line)


@deadletter.command("show")
@click.argument("dead_letter_id")
def deadletter_show(dead_letter_id: str) -> None:
    """One dead letter in full (the original bytes decoded where they are text)."""
    from kernel.deadletters import show_dead_letter

    settings = _settings()
    click.echo(show_dead_letter(settings, _bootstrap(settings), dead_letter_id))


@deadletter.command("replay")
@click.argument("dead_letter_ids", nargs=-1)
@click.option("--all", "replay_all", is_flag=True, help="Replay every dead letter not replayed yet.")
@click.option("--stage", default=None, help="With --all: only this stage.")
def deadletter_replay(dead_letter_ids: tuple[str, ...], replay_all: bool, stage: str | None) -> None:
    """Send dead letters back to their source topic. Idempotent: a letter already replayed is skipped."""
    from kernel.deadletters import replay_dead_letters

    settings = _settings()
    if not dead_letter_ids and not replay_all:
        raise click.UsageError("name dead letter ids or use --all")
    replayed, skipped = replay_dead_letters(settings, _bootstrap(settings), list(dead_letter_ids), replay_all, stage)
    click.echo(f"replayed {replayed}, skipped {skipped} already replayed or unknown")


@main.command(hidden=True, context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
def bench() -> None:
    """The benchmark is a tool beside the product, not part of it."""
    raise click.ClickException("the benchmark lives in the repository's tools: run `python -m tools.bench --help`")


if __name__ == "__main__":
    main()
