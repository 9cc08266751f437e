"""Phone-line commands: voice transcribe, tts render-prompts, help-call start/list."""

from __future__ import annotations

import time
from pathlib import Path

import click
import sqlalchemy as sa

from core.i18n import N_, bilingual
from xiaoyuan.cli import CliContext, cli, echo_json, fail, pass_ctx, with_services


@cli.group("voice")
def voice_group() -> None:
    """The phone line (IVR, speech recognition)."""


@voice_group.command("transcribe")
@click.argument("wav_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--grammar", multiple=True, help="Restrict recognition to these phrases (repeatable).")
@pass_ctx
def voice_transcribe(ctx: CliContext, wav_file: Path, grammar: tuple[str, ...]) -> None:
    """Transcribe a WAV (phone μ-law 8 kHz or PCM) with the configured vosk model and show the intent."""
    from voice.asr import make_asr
    from voice.audio import AudioError
    from voice.intents import classify, readback_text

    asr = make_asr(ctx.settings)
    if asr is None:
        fail(N_("没有配置语音识别模型：请把 XIAOYUAN_VOSK_MODEL 设为模型目录"))
    try:
        started = time.monotonic()
        result = asr.transcribe_wav(wav_file.read_bytes(), grammar=list(grammar) or None)
        elapsed = time.monotonic() - started
    except AudioError as exc:
        fail(N_("无法读取音频：%(error)s"), error=exc)
    finally:
        asr.close()
    intent = classify(result.text)
    echo_json({
        "text": result.text, "confidence": result.confidence, "audio_seconds": round(result.seconds, 2),
        "rtf": round(elapsed / result.seconds, 3) if result.seconds else None,
        "intent": intent.name if intent else None, "readback": readback_text(intent) if intent else None,
    })


@voice_group.command("intent")
@click.argument("text")
@click.option("--json", "as_json", is_flag=True, help="Print intent, confidence, fields and read-back as JSON.")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", help="Language of labels and read-back.")
def voice_intent(text: str, as_json: bool, lang: str) -> None:
    """What the phone line understands from TEXT (a transcript as vosk returns it), for trying phrasings."""
    from core.i18n import N_, translate
    from voice.intents import FIELD_LABELS, classify, readback_text

    intent = classify(text)
    if as_json:
        echo_json({
            "text": text, "intent": intent.name if intent else None,
            "label": translate(intent.label, lang) if intent else None,
            "confidence": intent.score if intent else 0.0, "emergency": bool(intent and intent.is_emergency),
            "fields": intent.fields if intent else {}, "summary": intent.summary if intent else None,
            "readback": readback_text(intent, lang) if intent else None,
        })
        return
    if intent is None:
        click.echo(translate(N_("没有听懂：这句话不属于任何意图（电话会请对方再说一次或按键）。"), lang))
        return
    fields = "，".join(f"{translate(FIELD_LABELS[key], lang)}={value}" for key, value in intent.fields.items()) or "-"
    click.echo(translate(N_("意图：%(label)s（%(name)s），置信度 %(score)s，字段：%(fields)s"), lang,
                         label=translate(intent.label, lang), name=intent.name, score=f"{intent.score:.2f}",
                         fields=fields))
    click.echo(translate(N_("读回：%(readback)s"), lang, readback=readback_text(intent, lang)))


def _tts_group() -> click.Group:
    """The `tts` group (another module may have added it first)."""
    existing = cli.commands.get("tts")
    if isinstance(existing, click.Group):
        return existing

    @cli.group("tts")
    def tts() -> None:
        """Text to speech (prompts for the phone line and the TV)."""

    return tts


tts_group = _tts_group()


@tts_group.command("render-prompts")
@with_services
def tts_render_prompts(services) -> None:
    """Pre-render every fixed phone prompt to 8 kHz μ-law audio (recorded human files win)."""
    from core.tts import TtsService
    from voice.speech import render_all_prompts

    tts = services.tts or TtsService.from_settings(services.settings)
    try:
        results = render_all_prompts(tts, services.settings.data_dir / "voice" / "audio")
    finally:
        if services.tts is None and hasattr(tts, "close"):
            tts.close()
    failed = [pid for pid, path in results if path is None]
    for prompt_id, path in results:
        click.echo(f"{prompt_id}: {path.name if path else bilingual(N_('失败'))}")
    if failed:
        fail(N_("%(count)s 条提示音生成失败：%(ids)s"), count=len(failed), ids=", ".join(failed))


@cli.group("help-call")
def help_call_group() -> None:
    """One-key calls (一键呼叫)."""


@help_call_group.command("start")
@click.option("--household", "household_id", type=int, required=True)
@with_services
def help_call_start(services, household_id: int) -> None:
    """Start a help call for a household (as the TV's 一键呼叫 would) and dial the first person."""
    from core.db import transaction
    from core.errors import ServiceError
    from core.phone.dialler import advance_help_call
    from core.phone.helpcalls import start_help_call

    try:
        with transaction(services.session_factory) as session:
            call = start_help_call(session, now=services.clock.now(), household_id=household_id, source="console",
                                   dryrun=bool(services.telephony is None or services.telephony.is_dryrun))
            call_id = call.id
    except ServiceError as exc:
        fail(exc)
    advance_help_call(services, call_id)
    click.echo(call_id)


@help_call_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.option("--limit", default=50)
@with_services
def help_call_list(services, as_json: bool, limit: int) -> None:
    """Recent help calls with each leg's outcome."""
    from core.models.helpcalls import HelpCall

    with services.session_factory() as session:
        calls = list(session.scalars(sa.select(HelpCall).order_by(HelpCall.id.desc()).limit(limit)))
        rows = [{
            "id": c.id, "household_id": c.household_id, "resident_id": c.resident_id, "status": c.status,
            "round": c.round, "dryrun": c.dryrun, "reached_name": c.reached_name, "created_at": c.created_at,
            "legs": [{"id": leg.id, "round": leg.round, "position": leg.position, "name": leg.name,
                      "status": leg.status, "digits": leg.digits} for leg in c.legs],
        } for c in calls]
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        legs = " → ".join(f"{leg['name']}:{leg['status']}" for leg in row["legs"]) or "-"
        dry = " (dry-run)" if row["dryrun"] else ""
        click.echo(f"#{row['id']} household {row['household_id']} {row['status']}{dry}  {legs}")
