"""``mingbai spam``: check messages, train the model, govern ports, reports, reviews, strategies."""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from mingbai.cli.common import console, emit, friendly_errors, opts, print_json, print_table, read_json_file
from mingbai.errors import InvalidInput
from mingbai.jsonable import jsonable

spam_app = typer.Typer(
    help="Spam SMS governance (R12): interception, ports, 10086999 reports, reviews.", no_args_is_help=True
)
strategy_app = typer.Typer(help="Versioned interception strategies.", no_args_is_help=True)
port_app = typer.Typer(help="Industry port registry and sanctions.", no_args_is_help=True)
report_app = typer.Typer(help="Reports forwarded to 10086999.", no_args_is_help=True)
review_app = typer.Typer(help="The grey-zone review queue.", no_args_is_help=True)
sender_app = typer.Typer(help="Person senders marked by confirmed reports.", no_args_is_help=True)
spam_app.add_typer(strategy_app, name="strategy")
spam_app.add_typer(port_app, name="port")
spam_app.add_typer(report_app, name="report")
spam_app.add_typer(review_app, name="review")
spam_app.add_typer(sender_app, name="sender")

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]


def _actor() -> str:
    return f"cli:{os.environ.get('USER', 'operator')}"


# -- check ------------------------------------------------------------------------------------------


@spam_app.command("check")
def check(
    ctx: typer.Context,
    file: Annotated[Path | None, typer.Argument(help="JSON Lines file; omit or '-' for standard input.")] = None,
    json_out: JsonOpt = False,
    record: Annotated[
        bool, typer.Option("--record", help="Keep blocks in the decision log and grey messages in the review queue.")
    ] = False,
) -> None:
    """Check messages, one JSON object a line: {"sender", "recipient", "text", "port_type"}.

    port_type is person (default), industry or international. Prints one result a line:
    {"verdict": "block|review|pass", "score", "reasons", "strategy_version", "model_version"}.
    A bad line prints {"line": n, "error": "..."} and the command exits 1 at the end.
    """
    from mingbai.spam.engine import Message
    from mingbai.spam.rules import parse_check_line
    from mingbai.spam.runtime import filter_for
    from mingbai.text import unstorable

    with friendly_errors():
        live = filter_for(opts(ctx).platform())
        stream = sys.stdin.buffer if file is None or str(file) == "-" else file.open("rb")
        errors = 0
        out = sys.stdout

        def refuse(number: int, why: str) -> None:
            nonlocal errors
            errors += 1
            out.write(json.dumps({"line": number, "error": why}, ensure_ascii=False) + "\n")
            out.flush()

        try:
            for number, raw in enumerate(stream, start=1):
                # each line alone: a bad one is reported and the others are still checked (docs/spam.md)
                try:
                    line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
                except UnicodeDecodeError:
                    refuse(number, "not UTF-8 text")
                    continue
                if not line.strip():
                    continue
                try:
                    item = parse_check_line(line)
                    why = unstorable(item.text) or unstorable(item.sender) or unstorable(item.recipient)
                    if why:
                        raise InvalidInput(f"text {why}")
                    msg = Message(item.sender, item.recipient, item.text, item.port_type)
                    decision = live.check_and_record(msg)[0] if record else live.check(msg)
                except InvalidInput as exc:
                    refuse(number, exc.message)
                    continue
                if json_out:
                    out.write(json.dumps(decision.as_dict(), ensure_ascii=False) + "\n")
                else:
                    reasons = ",".join(decision.reasons) or "-"
                    out.write(f"{decision.verdict}\t{decision.score:.4f}\t{reasons}\tv{decision.strategy_version}\n")
        finally:
            if stream is not sys.stdin.buffer:
                stream.close()
    if errors:
        raise typer.Exit(1)


# -- train and models ----------------------------------------------------------------------------------


@spam_app.command("train")
def train(
    ctx: typer.Context,
    data: Annotated[Path, typer.Option("--data", help="label<TAB>text<TAB>… file")] = Path(
        "../shared/data/sms_spam_zh/train.tsv"
    ),
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder for the model file (default var/spam-models).")
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="Train on a stratified subset (quick checks).")] = None,
    folds: Annotated[int, typer.Option("--folds", min=2, max=20)] = 5,
    seed: Annotated[int, typer.Option("--seed")] = 7,
    max_ham_blocked: Annotated[
        float, typer.Option("--max-ham-blocked", help="Held-out ham share the block threshold may block.")
    ] = 0.006,
    include_labels: Annotated[
        bool, typer.Option("--include-labels", help="Add reviewers' decisions and verified reports from the database.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Train the content model (scikit-learn; `pip install mingbai[train]`), with held-out metrics."""
    from mingbai.spam.model import DEFAULT_MODEL_DIR, model_dirs, write_model
    from mingbai.spam.train import Example, TrainParams, load_tsv, stratified_subset
    from mingbai.spam.train import train as fit

    with friendly_errors():
        try:
            import sklearn  # noqa: F401
        except ImportError:
            raise InvalidInput("training needs scikit-learn: pip install 'mingbai[train]'") from None
        loaded = load_tsv(data)
        examples = loaded.examples
        if limit:
            examples = stratified_subset(examples, limit, seed)
        extra = 0
        if include_labels:
            from mingbai.spam.service import labeled_examples

            with opts(ctx).platform().uow() as uow:
                labeled = labeled_examples(uow)
            examples = [*examples, *(Example(x.label, x.text) for x in labeled)]
            extra = len(labeled)
        params = TrainParams(folds=folds, seed=seed, max_ham_blocked=max_ham_blocked)
        at = opts(ctx).clock().now().isoformat()
        result = fit(examples, params, data_sha256=loaded.sha256, trained_at=at)
        folder = out or (model_dirs()[0] if os.environ.get("MINGBAI_SPAM_MODEL_DIR") else DEFAULT_MODEL_DIR)
        path = write_model(result.model, folder)
    summary = {
        "version": result.model.version,
        "path": str(path),
        "examples": len(examples),
        "from_database": extra,
        "skipped_lines": loaded.skipped,
        "repaired_lines": loaded.repaired,
        "thresholds": {"block": result.model.block_at, "review": result.model.review_at},
        "held_out": result.metrics["held_out"],
        "weights": int(result.model.training.get("weights", 0)),
    }
    if json_out:
        print_json(summary)
        return
    console.print(f"model {summary['version']} → {path} ({summary['weights']} weights)")
    console.print(f"examples {len(examples)} (skipped {loaded.skipped} lines, repaired {loaded.repaired})")
    console.print(f"thresholds block ≥ {result.model.block_at:.4f}, review ≥ {result.model.review_at:.4f}")
    console.print("held-out: " + ", ".join(f"{k}={v}" for k, v in result.metrics["held_out"].items()))
    console.print(f"use it: mingbai spam strategy new --set model_version={summary['version']} --activate")


@spam_app.command("models")
def models(json_out: JsonOpt = False) -> None:
    """Model versions available to strategies."""
    from mingbai.spam.model import list_models

    rows = list_models()
    emit(
        rows,
        json_out=json_out,
        title="Spam models",
        columns=["version", "shipped", "path"],
        row=lambda r: [r["version"], r["shipped"], r["path"]],
    )


# -- strategies ---------------------------------------------------------------------------------------


@strategy_app.command("list")
def strategy_list(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    from mingbai.spam.service import list_strategies

    with friendly_errors(), opts(ctx).platform().uow() as uow:
        rows = list_strategies(uow)
    emit(
        rows,
        json_out=json_out,
        title="Spam strategies",
        columns=["version", "active", "model", "block_at", "review_at", "note", "created_at", "by"],
        row=lambda r: [
            r.version,
            "●" if r.active else "",
            r.config.get("model_version"),
            r.config.get("block_at") or "model",
            r.config.get("review_at") or "model",
            r.note,
            r.created_at,
            r.created_by,
        ],
    )


@strategy_app.command("show")
def strategy_show(ctx: typer.Context, version: Annotated[int | None, typer.Argument()] = None) -> None:
    """A strategy version's full settings (default: the active one), as JSON."""
    from mingbai.spam.service import active_strategy, get_strategy

    with friendly_errors(), opts(ctx).platform().uow() as uow:
        strategy = get_strategy(uow, version) if version is not None else active_strategy(uow)
    print_json({"version": strategy.version, **strategy.config()})


@strategy_app.command("new")
def strategy_new(
    ctx: typer.Context,
    settings: Annotated[list[str] | None, typer.Option("--set", help="name=value, repeatable")] = None,
    file: Annotated[Path | None, typer.Option("--file", help="JSON object of settings")] = None,
    base: Annotated[int | None, typer.Option("--from", help="Base version (default: the active one)")] = None,
    note: Annotated[str | None, typer.Option("--note")] = None,
    activate: Annotated[bool, typer.Option("--activate", help="Put it in force at once.")] = False,
) -> None:
    """Create a new strategy version from a base with changes; running filters pick it up
    when it is activated, without a restart."""
    from mingbai.spam.rules import parse_setting
    from mingbai.spam.service import activate_strategy, create_strategy

    with friendly_errors():
        changes: dict[str, Any] = {}
        if file is not None:
            loaded = read_json_file(file)
            if not isinstance(loaded, dict):
                raise InvalidInput(f"{file} must hold a JSON object")
            changes.update(loaded)
        for item in settings or []:
            name, value = parse_setting(item)
            changes[name] = value
        with opts(ctx).platform().uow() as uow:
            strategy = create_strategy(uow, changes=changes, actor=_actor(), base_version=base, note=note)
            if activate:
                activate_strategy(uow, strategy.version, actor=_actor())
    console.print(f"strategy v{strategy.version} created{' and active' if activate else ''}")


@strategy_app.command("activate")
def strategy_activate(ctx: typer.Context, version: int) -> None:
    """Put a version in force (also to roll back to an older one)."""
    from mingbai.spam.service import activate_strategy

    with friendly_errors(), opts(ctx).platform().uow() as uow:
        activate_strategy(uow, version, actor=_actor())
    console.print(f"strategy v{version} active")


# -- ports ----------------------------------------------------------------------------------------------


@port_app.command("register")
def port_register(
    ctx: typer.Context,
    port: str,
    owner: Annotated[str, typer.Option("--owner")],
    signature: Annotated[str, typer.Option("--signature", help="The name it signs with, shown as 【…】")],
    province: Annotated[str | None, typer.Option("--province")] = None,
) -> None:
    from mingbai.spam.service import register_port

    with friendly_errors(), opts(ctx).platform().uow() as uow:
        view = register_port(uow, port=port, owner=owner, signature=signature, province=province, actor=_actor())
    console.print(f"port {view.port} registered for {view.owner}, signature 【{view.signature}】")


@port_app.command("list")
def port_list(
    ctx: typer.Context, state: Annotated[str | None, typer.Option("--state")] = None, json_out: JsonOpt = False
) -> None:
    from mingbai.spam.service import list_ports

    with friendly_errors(), opts(ctx).platform().uow() as uow:
        rows = list_ports(uow, state=state)
    emit(
        rows,
        json_out=json_out,
        title="Industry ports",
        columns=["port", "owner", "signature", "province", "state", "updated_at"],
        row=lambda r: [r.port, r.owner, r.signature, r.province, r.state, r.updated_at],
    )


@port_app.command("set-state")
def port_set_state(
    ctx: typer.Context,
    port: str,
    state: Annotated[str, typer.Argument(help="active|warned|penalised|closed")],
    reason: Annotated[str, typer.Option("--reason")],
) -> None:
    """Warn, penalise, close or reopen a port by hand; the history keeps who and why."""
    from mingbai.spam.service import set_port_state

    with friendly_errors(), opts(ctx).platform().uow() as uow:
        view = set_port_state(uow, port=port, state=state, reason=reason, actor=_actor())
    console.print(f"port {view.port}: {view.state}")


@port_app.command("history")
def port_history(ctx: typer.Context, port: str, json_out: JsonOpt = False) -> None:
    from mingbai.spam.service import port_history as history

    with friendly_errors(), opts(ctx).platform().uow() as uow:
        rows = history(uow, port)
    emit(
        rows,
        json_out=json_out,
        title=f"History of port {port}",
        columns=["at", "from", "to", "reason", "actor"],
        row=lambda r: [r.at, r.from_state, r.to_state, r.reason, r.actor],
    )


# -- reports -------------------------------------------------------------------------------------------


@report_app.command("list")
def report_list(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option("--status", help="pending|confirmed|rejected|referred|all")] = "pending",
    json_out: JsonOpt = False,
) -> None:
    from mingbai.spam.reports import list_reports

    with friendly_errors(), opts(ctx).platform().uow() as uow:
        rows = list_reports(uow, status=None if status == "all" else status)
    emit(
        rows,
        json_out=json_out,
        title="Reports to 10086999",
        columns=["id", "received_at", "reporter", "sender", "kind", "status", "content"],
        row=lambda r: [
            r.id,
            r.received_at,
            r.reporter,
            r.reported_sender,
            r.sender_kind,
            r.status,
            r.content[:40],
        ],
    )


def _decide(ctx: typer.Context, report_id: int, confirm: bool, note: str | None, json_out: bool) -> None:
    from mingbai.spam.reports import decide_report

    platform = opts(ctx).platform()
    with friendly_errors():
        with platform.uow() as uow:
            result = decide_report(uow, report_id=report_id, confirm=confirm, reviewer=_actor(), note=note)
        platform.deliver()
    if json_out:
        print_json(result)
    else:
        console.print(
            f"report {report_id}: {result.report.status}" + (f"; {result.sanction}" if result.sanction else "")
        )


@report_app.command("confirm")
def report_confirm(
    ctx: typer.Context,
    report_id: int,
    note: Annotated[str | None, typer.Option("--note")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Verified spam: counts against the port or sender (sanctions by strategy)."""
    _decide(ctx, report_id, True, note, json_out)


@report_app.command("reject")
def report_reject(
    ctx: typer.Context,
    report_id: int,
    note: Annotated[str | None, typer.Option("--note")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Verified not spam."""
    _decide(ctx, report_id, False, note, json_out)


@report_app.command("export")
def report_export(
    ctx: typer.Context,
    province: Annotated[str | None, typer.Option("--province")] = None,
    include_exported: Annotated[bool, typer.Option("--all", help="Also those exported before.")] = False,
    fmt: Annotated[str, typer.Option("--format", help="csv|json")] = "csv",
) -> None:
    """Referred reports for other provinces (marks them exported)."""
    from mingbai.spam.reports import export_referrals

    with friendly_errors():
        if fmt not in ("csv", "json"):
            raise InvalidInput("format must be csv or json")
        with opts(ctx).platform().uow() as uow:
            rows = export_referrals(uow, province=province, include_exported=include_exported, actor=_actor())
    if fmt == "json":
        print_json(rows)
        return
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["report_id", "received_at", "province", "reported_sender", "sender_kind", "content"])
    for r in rows:
        writer.writerow(
            [r.report_id, jsonable(r.received_at), r.province, r.reported_sender or "", r.sender_kind, r.content]
        )
    sys.stdout.write(buf.getvalue())


@report_app.command("stats")
def report_stats(
    ctx: typer.Context, days: Annotated[int, typer.Option("--days")] = 30, json_out: JsonOpt = False
) -> None:
    """Reports per day, verified %, time to verify, ports sanctioned, messages blocked."""
    from mingbai.spam.reports import report_stats as stats
    from mingbai.spam.reports import stats_window

    with friendly_errors(), opts(ctx).platform().uow() as uow:
        since, until = stats_window(uow, days)
        result = stats(uow, since=since, until=until)
    if json_out:
        print_json(result)
        return
    console.print(
        f"received {result.received}, referred {result.referred}, verified {result.verified} "
        f"({result.verified_pct}%), pending {result.pending}, confirmed {result.confirmed}; "
        f"mean hours to verify {result.mean_hours_to_verify}; ports closed {result.ports_closed}, "
        f"penalised {result.ports_penalised}, warned {result.ports_warned}; blocked messages {result.blocked_messages}"
    )
    print_table(
        "Per day",
        ["day", "received", "referred", "verified", "pending"],
        [[d.day, d.received, d.referred, d.verified, d.pending] for d in result.per_day],
    )


# -- review queue -----------------------------------------------------------------------------------------


@review_app.command("list")
def review_list(
    ctx: typer.Context,
    status: Annotated[str, typer.Option("--status", help="open|decided|all")] = "open",
    limit: Annotated[int, typer.Option("--limit")] = 50,
    json_out: JsonOpt = False,
) -> None:
    """Grey-zone messages: numbers masked, text shown."""
    from mingbai.spam.service import list_reviews

    with friendly_errors(), opts(ctx).platform().uow() as uow:
        rows = list_reviews(uow, status=status, limit=limit)
    emit(
        rows,
        json_out=json_out,
        title="Review queue",
        columns=["id", "created_at", "sender", "recipient", "score", "reasons", "label", "text"],
        row=lambda r: [
            r.id,
            r.created_at,
            r.sender,
            r.recipient,
            r.score,
            ",".join(r.reasons),
            r.label,
            r.text[:50],
        ],
    )


@review_app.command("decide")
def review_decide(ctx: typer.Context, review_id: int, label: Annotated[str, typer.Argument(help="spam|ham")]) -> None:
    """Label a grey-zone message; the label is training data for the next model."""
    from mingbai.spam.service import decide_review

    with friendly_errors(), opts(ctx).platform().uow() as uow:
        item = decide_review(uow, review_id=review_id, label=label, reviewer=_actor())
    console.print(f"review {item.id}: {item.label}")


@review_app.command("export-labels")
def review_export(
    ctx: typer.Context, file: Annotated[Path, typer.Argument(help="TSV to write: label<TAB>text")]
) -> None:
    """People's decisions (reviews, verified reports) as label<TAB>text lines, the training format."""
    from mingbai.spam.service import labeled_examples

    with friendly_errors(), opts(ctx).platform().uow() as uow:
        rows = labeled_examples(uow)
    with file.open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(f"{r.label}\t{' '.join(r.text.split())}\n")
    console.print(f"{len(rows)} labeled messages → {file}")


@sender_app.command("clear")
def sender_clear(ctx: typer.Context, msisdn: str) -> None:
    """Lift a watch or block on a person sender."""
    from mingbai.spam.reports import clear_sender

    with friendly_errors(), opts(ctx).platform().uow() as uow:
        clear_sender(uow, msisdn=msisdn, actor=_actor())
    console.print("cleared")
