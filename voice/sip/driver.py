"""The SIP call driver: performs the phone line's flow actions (voice/flow.py) on a live SIP call.

The same steps the TwiML webhooks serve run here; where Twilio would fetch the next URL, the driver
calls the next step itself with what it heard. Prompts come from the same TTS cache as <Play>; keys
arrive by RFC 2833 or SIP INFO; speech is recognised while the caller talks (voice/sip/listen.py),
and a key or the caller's voice stops a prompt (barge-in). Each call has its own driver thread.
"""

from __future__ import annotations

import functools
import json
import logging
import queue
import re
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np

from core.container import Services
from core.phone.calls import RECORDINGS_DIR
from core.phone.telephony.sip_provider import LOCAL_RECORDING_SCHEME
from core.phones import try_normalise_phone
from core.private_files import write_private
from voice import flow
from voice.audio import AudioError, read_wav, wav_ulaw
from voice.sip.listen import CallListener, Utterance
from voice.sip.media import beep, silence
from voice.sip.stack import CallHandle, SipError, SipStack
from voice.speech import Speaker

log = logging.getLogger(__name__)
BEEP = beep()
GAP = silence(200)
MEDIA_WAIT_S = 2.0
STEP_LIMIT = 200  # a flow that loops this often is broken: hang up rather than spin


class HungUp(Exception):
    """The far end hung up."""


class Redirected(Exception):
    """A redirect command arrived for this call (the telephony port's update_call)."""

    def __init__(self, target: flow.Next) -> None:
        super().__init__(target.step)
        self.target = target


def next_from_url(url: str) -> flow.Next | None:
    """The flow step (and its parameters) a flow URL names, e.g. …/voice/twilio/help/answer?leg=4."""
    parts = urlsplit(url)
    name = flow.step_for_path(parts.path)
    if name is None:
        return None
    return flow.Next(name, {key: values[0] for key, values in parse_qs(parts.query).items()})


def dial_string(number: str) -> str:
    """What to put in sip:<user>@gateway for an E.164 number: national digits inside China, 00… abroad."""
    if number.startswith("+86"):
        import phonenumbers

        parsed = phonenumbers.parse(number)
        national = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
        return "".join(ch for ch in national if ch.isdigit())
    if number.startswith("+"):
        return "00" + number[1:]
    return "".join(ch for ch in number if ch.isdigit() or ch in "*#")


def dial_status(code: int, answered: bool) -> str:
    """Twilio's DialCallStatus / CallStatus words for how a SIP call ended."""
    if answered:
        return "completed"
    if code in (486, 600, 603):
        return "busy"
    if code in (408, 480, 487, 0):
        return "no-answer"
    return "failed"


CLAUSE_END = re.compile(r"(?<=[：，？。！；:,?!;])")  # where a sentence may be cut into separately rendered clauses
MIN_CLAUSE_CHARS = 2


def clauses(text: str) -> list[str]:
    """A sentence cut after each clause mark ("您是说：", "要卖20斤花椒，", "对吗？", …); tiny pieces stay joined."""
    out: list[str] = []
    for piece in CLAUSE_END.split(text):
        if not piece:
            continue
        if out and len(piece.strip("：，？。！；:,?!; ")) < MIN_CLAUSE_CHARS:
            out[-1] += piece
        else:
            out.append(piece)
    return out or [text]


class PcmPrompts:
    """Prompt and sentence audio as 8 kHz PCM, from the same cache the TwiML <Play> uses."""

    def __init__(self, speaker: Speaker) -> None:
        self.speaker = speaker
        self._lock = threading.Lock()

    def pieces(self, text: str, prompt_id: str | None) -> list[str]:
        """What to render and play one after another for an item.

        A fixed prompt, or a sentence already rendered whole, is one piece. A new sentence (a read-back with
        the caller's words in it) is cut into clauses: the fixed ones ("您是说：", "对吗？", …) are in the
        cache already, so the first plays at once while the clause with the caller's words is rendered.
        """
        if prompt_id is not None:
            return [text]
        tts = self.speaker.tts
        cached = getattr(tts, "cached_path", None)
        try:
            if cached is None or cached(text).is_file():
                return [text]
        except (OSError, ValueError):
            return [text]
        return clauses(text)

    def pcm(self, text: str, prompt_id: str | None) -> bytes:
        """The audio of one item; b"" (and a warning) when TTS is unavailable."""
        path = self.speaker.phone_audio(text, prompt_id)
        if path is None:
            log.warning("no audio for a prompt (TTS unavailable): %s", prompt_id or "sentence")
            return b""
        return _decode(str(path), path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _decode(path: str, _mtime: int) -> bytes:
    try:
        audio = read_wav(Path(path).read_bytes())
    except (OSError, AudioError) as exc:
        log.warning("prompt audio unreadable: %s", type(exc).__name__)
        return b""
    return audio.samples.astype("<i2").tobytes()


@dataclass
class DriverConfig:
    """What the driver needs besides the call: gateway for Dial, VAD and end-of-speech settings."""

    gateway: str
    vad_dbfs: float = -40.0
    end_silence_ms: int = 600
    end_stable_ms: int = 0
    key_barge_in: bool = True


class CallDriver:
    """Runs one call's flow: perform an action, run the next step with what was heard, until hang-up."""

    def __init__(self, services: Services, stack: SipStack, handle: CallHandle, info: flow.CallInfo,
                 prompts: PcmPrompts, config: DriverConfig,
                 on_leg: Callable[[CallHandle], None] | None = None, free: Any = None) -> None:
        self.services = services
        self.stack = stack
        self.handle = handle
        self.info = info
        self.prompts = prompts
        self.config = config
        self.on_leg = on_leg  # told about an extra call this driver places (bridges), for channel counting
        self.listener = CallListener(handle, services.asr, vad_dbfs=config.vad_dbfs,
                                     end_silence_ms=config.end_silence_ms, end_stable_ms=config.end_stable_ms,
                                     register_thread=stack.register_thread,
                                     free=free)
        self.timeline: list[tuple[str, float]] = []  # (event, monotonic) for benchmarks and tests
        self._stages: dict[str, Any] | None = None  # end of speech → first answer frame, being timed
        self.stages: list[dict[str, Any]] = []  # finished timings (bounded), also logged as "answer stages"

    # --- running ---------------------------------------------------------------------------------------

    def run(self, first: flow.Next) -> None:
        """Run the flow from `first` until the call ends or the flow hangs up (never raises)."""
        self.stack.register_thread(threading.current_thread().name)
        self.listener.start()
        target: flow.Next | None = first
        heard = flow.Heard()
        try:
            for _ in range(STEP_LIMIT):
                if target is None:
                    break
                try:
                    log.debug("call %s: step %s", self.handle.id[-8:], target.step)
                    action = flow.run_step(target.step, self.info, target.params, heard)
                    self._stage("step")
                    log.debug("call %s: %s", self.handle.id[-8:], type(action).__name__)
                    target, heard = self.perform(action)
                except Redirected as redirect:
                    self.handle.tx.stop()
                    self.listener.cancel()
                    target, heard = redirect.target, flow.Heard()
            self._hangup()
        except HungUp:
            pass
        except Exception:
            log.exception("call %s: flow failed", self.handle.id[-8:])
            self._apologise()
        finally:
            self.listener.stop()

    def _hangup(self) -> None:
        try:
            self.handle.hangup()
        except (SipError, TimeoutError):
            pass

    def _apologise(self) -> None:
        """An internal error: say sorry and hang up (the TwiML path offers a message; here the line stays simple)."""
        try:
            from voice.prompts import prompt_text

            self._play([(prompt_text("error_apology"), "error_apology")], keys=False)
        except Exception as exc:
            log.debug("apology not played: %s", type(exc).__name__)
        self._hangup()

    def perform(self, action: flow.Action) -> tuple[flow.Next | None, flow.Heard]:
        """Carry out one action; return the next step to run and what was heard."""
        if isinstance(action, flow.Say):
            self._play(action.items, keys=False)
            return action.then, flow.Heard()
        if isinstance(action, flow.AskKey):
            return self._ask_key(action)
        if isinstance(action, flow.Menu):
            return self._menu(action)
        if isinstance(action, flow.Record):
            return self._record(action)
        if isinstance(action, flow.Hold):
            self._play(action.items, keys=False)
            self._wait_for(lambda event: False, action.pause_s)
            return action.poll, flow.Heard()
        if isinstance(action, flow.Dial):
            return self._dial(action)
        return None, flow.Heard()

    # --- actions -----------------------------------------------------------------------------------------

    def _ask_key(self, action: flow.AskKey) -> tuple[flow.Next | None, flow.Heard]:
        for _ in range(max(1, action.repeat)):
            key = self._play(action.items, keys=True)
            if key is None:
                key = self._wait_key(action.timeout_s)
            if key is not None:
                return action.on_key, flow.Heard(digits=key)
        return action.on_none, flow.Heard()

    def _menu(self, action: flow.Menu) -> tuple[flow.Next | None, flow.Heard]:
        self.listener.barge_in = True
        try:
            interrupt = self._play(action.items, keys=True, speech=True)
            if interrupt is None:
                interrupt = self._wait_key(action.key_wait_s, speech=True)
            if interrupt is not None and interrupt != "speech":
                return action.on_key, flow.Heard(digits=interrupt)
            if interrupt is None:
                # A key pressed while the beep plays is still the caller's menu choice, not lost.
                key = self._play_pcm(BEEP, keys=True)
                if key is not None:
                    return action.on_key, flow.Heard(digits=key)
        finally:
            self.listener.barge_in = False
        return self._listen(purpose="menu", grammar=True, no_speech_s=action.silence_s, max_s=action.record_max_s,
                            end_silence_ms=None, on_speech=action.on_speech, on_silence=action.on_silence,
                            key_ends=True)

    def _record(self, action: flow.Record) -> tuple[flow.Next | None, flow.Heard]:
        self._play(action.items, keys=False)
        if action.beep:
            key = self._play_pcm(BEEP, keys=action.keys_choose)
            if key is not None:
                return action.on_done, flow.Heard(digits=key)  # a key at the beep: the caller's menu choice
        target, heard = self._listen(purpose=action.purpose, grammar=False, no_speech_s=action.silence_s,
                                     max_s=action.max_s, end_silence_ms=action.silence_s * 1000,
                                     on_speech=action.on_done, on_silence=action.on_silence,
                                     key_ends=action.keys_choose)
        if target is None and heard.recording is None and action.then_hangup_items:
            self._play(action.then_hangup_items, keys=False)
        return target, heard

    def _listen(self, *, purpose: str, grammar: bool, no_speech_s: float, max_s: float, end_silence_ms: int | None,
                on_speech: flow.Next, on_silence: flow.Next | None,
                key_ends: bool) -> tuple[flow.Next | None, flow.Heard]:
        """Record and recognise one answer. A key ends it (menu: the key is the answer; messages: # ends)."""
        self.listener.listen(purpose=purpose, grammar=grammar, no_speech_s=no_speech_s, max_s=max_s,
                             end_silence_ms=end_silence_ms)
        digits = ""
        while True:
            event = self._next_event(max_s + 5)
            if event is None:
                self.listener.finish("limit")
                continue
            if event[0] == "dtmf" and (key_ends or event[1] == "#"):
                digits = event[1]
                self.listener.finish("key")
                continue
            if event[0] == "utterance":
                utterance: Utterance = event[1]
                break
        self.timeline.append(("utterance_end", time.monotonic()))
        if digits and key_ends and (not utterance.spoke or utterance.seconds <= 2):
            return on_speech, flow.Heard(digits=digits)  # a key, not speech: the step routes it
        if not utterance.spoke:
            return on_silence, flow.Heard()
        self._stages = {"purpose": purpose, "ended_by": utterance.ended_by, "speech_end": utterance.speech_end_at,
                        "decided": utterance.decided_at, "recognised": utterance.recognised_at,
                        "dequeued": time.monotonic()}
        recorded = self._save(utterance, purpose)
        self._stage("saved")
        self.timeline.append(("speech_end", utterance.speech_end_at or time.monotonic()))
        return on_speech, flow.Heard(digits=digits if key_ends else "", recording=recorded)

    def _save(self, utterance: Utterance, purpose: str) -> flow.Recorded:
        """Keep the recording as phone audio in the data dir (staff listen to it; it can be recognised again)."""
        name = f"sip-{uuid.uuid4().hex[:16]}.wav"
        relative = f"{RECORDINGS_DIR}/{name}"
        path = self.services.settings.data_dir / relative
        samples = np.frombuffer(utterance.pcm8k, dtype="<i2")
        write_private(path, wav_ulaw(samples, 8000))  # a caller's voice: owner-only
        text = confidence = understood = None
        if utterance.match is not None:
            understood = utterance.match.intent is not None
            text = utterance.match.text if understood else None
            confidence = utterance.match.confidence
        elif utterance.transcript is not None:
            text, confidence = utterance.transcript.text, utterance.transcript.confidence
        return flow.Recorded(url=f"{LOCAL_RECORDING_SCHEME}{relative}", duration_s=max(1, round(utterance.seconds)),
                             text=text, confidence=confidence, understood=understood,
                             pcm16k=utterance.pcm16k or None)

    def _dial(self, action: flow.Dial) -> tuple[flow.Next | None, flow.Heard]:
        """Put the caller through: a second call from the endpoint, its audio bridged to this one."""
        self._play(action.items, keys=False)
        number = try_normalise_phone(action.number) or action.number
        try:
            leg = self.stack.make_call(dial_string(number), host=self.config.gateway)
        except SipError as exc:
            log.warning("call %s: dialling out failed: %s", self.handle.id[-8:], exc)
            return action.on_done, flow.Heard(dial_status="failed")
        if self.on_leg is not None:
            self.on_leg(leg)
        try:
            return self._bridge(action, leg)
        finally:
            if not leg.ended.is_set():
                try:
                    leg.hangup()
                except (SipError, TimeoutError):
                    pass

    def _bridge(self, action: flow.Dial, leg: CallHandle) -> tuple[flow.Next | None, flow.Heard]:
        deadline = time.monotonic() + action.timeout_s
        while not leg.answered.is_set():
            if self.handle.ended.is_set():
                raise HungUp
            if leg.ended.is_set():
                return action.on_done, flow.Heard(dial_status=dial_status(leg.status_code, False))
            if time.monotonic() >= deadline:
                return action.on_done, flow.Heard(dial_status="no-answer")
            self._drain_caller_events(0.05)
        media_deadline = time.monotonic() + MEDIA_WAIT_S
        while time.monotonic() < media_deadline and not leg.ended.is_set():
            try:
                self.stack.bridge(self.handle, leg)
                break
            except SipError:
                time.sleep(0.02)  # the answered leg's audio is not up yet
        self.timeline.append(("bridged", time.monotonic()))
        if action.on_answered is not None:
            flow.run_step(action.on_answered.step, self.info, action.on_answered.params,
                          flow.Heard(call_status="answered"))
        while not leg.ended.is_set():
            if self.handle.ended.is_set():
                self.stack.unbridge(self.handle, leg)
                raise HungUp
            self._drain_caller_events(0.1)
        self.stack.unbridge(self.handle, leg)
        return action.on_done, flow.Heard(dial_status="completed")

    # --- audio and events ------------------------------------------------------------------------------------

    def _play(self, items: Sequence[flow.Speech], *, keys: bool, speech: bool = False) -> str | None:
        """Play items in order; a key (if `keys`) or the caller's voice (if `speech`) stops them at once.

        Returns the key, "speech", or None when everything was played.
        """
        for text, prompt_id in items:
            pieces = self.prompts.pieces(text, prompt_id)
            if len(pieces) > 1:
                interrupt = self._play_pieces(pieces, keys=keys, speech=speech)
            else:
                pcm = self.prompts.pcm(text, prompt_id)
                self._stage("tts")
                if not pcm:
                    continue
                interrupt = self._play_pcm(pcm + GAP, keys=keys, speech=speech)
            if interrupt is not None:
                return interrupt
        return None

    def _play_pieces(self, pieces: list[str], *, keys: bool, speech: bool) -> str | None:
        """Play a sentence clause by clause: the rest is rendered (on a helper thread) while the first plays."""
        rendered: queue.Queue[bytes] = queue.Queue()

        def render() -> None:
            for piece in pieces[1:]:
                try:
                    rendered.put(self.prompts.pcm(piece, None))
                except Exception as exc:  # the player counts on one item per piece: never leave it waiting
                    log.warning("a clause was not rendered: %s", type(exc).__name__)
                    rendered.put(b"")

        threading.Thread(target=render, name=f"say-{self.handle.id[-8:]}", daemon=True).start()
        first = self.prompts.pcm(pieces[0], None)
        self._stage("tts")
        return self._play_pcm(first, keys=keys, speech=speech, more=rendered, pending=len(pieces) - 1)

    def _play_pcm(self, pcm: bytes, *, keys: bool = False, speech: bool = False,
                  more: queue.Queue[bytes] | None = None, pending: int = 0) -> str | None:
        """Play audio; with `more`, `pending` further pieces are queued as they arrive (then a short gap)."""
        tx = self.handle.tx
        tx.play(pcm)
        self.timeline.append(("play", time.monotonic()))
        self._stage("play")
        try:
            while tx.playing or pending:
                if self._stages is not None and tx.started_at is not None:
                    self._stages_done(tx.started_at)
                while more is not None and pending:
                    try:
                        piece = more.get_nowait()
                    except queue.Empty:
                        break
                    pending -= 1
                    tx.play(piece if pending else piece + GAP)
                event = self._next_event(0.02 if pending else 0.05)
                if event is None:
                    continue
                if event[0] == "dtmf" and keys:
                    tx.stop()
                    return event[1]
                if event[0] == "speech" and speech:
                    tx.stop()
                    return "speech"
        finally:
            if self._stages is not None and "play" in self._stages:
                self._stages_done(tx.started_at)
            if self.handle.ended.is_set():
                raise HungUp
        return None

    def _stage(self, name: str) -> None:
        """Note when a stage of answering the caller ended (only the first time, only while an answer is timed)."""
        if self._stages is not None and name not in self._stages:
            self._stages[name] = time.monotonic()

    def _stages_done(self, first_out: float | None) -> None:
        """The answer's first frame went out: keep and log the timings (monotonic, comparable across processes)."""
        stages, self._stages = self._stages, None
        if stages is None:
            return
        stages["first_out"] = first_out
        self.stages = [*self.stages[-31:], stages]
        log.info("answer stages %s", json.dumps({"call": self.handle.id[-8:], "from": self.handle.source, **stages}))

    def _wait_key(self, timeout_s: float, *, speech: bool = False) -> str | None:
        found = self._wait_for(lambda event: event[0] == "dtmf" or (speech and event[0] == "speech"), timeout_s)
        if found is None:
            return None
        return "speech" if found[0] == "speech" else found[1]

    def _wait_for(self, wanted: Callable[[tuple[Any, ...]], bool], timeout_s: float) -> tuple[Any, ...] | None:
        deadline = time.monotonic() + timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            event = self._next_event(min(remaining, 0.2))
            if event is not None and wanted(event):
                return event

    def _drain_caller_events(self, timeout: float) -> None:
        self._next_event(timeout)

    def _next_event(self, timeout: float) -> tuple[Any, ...] | None:
        """The next event of this call; raises HungUp / Redirected for those."""
        try:
            event = self.handle.events.get(timeout=timeout)
        except queue.Empty:
            if self.handle.ended.is_set():
                raise HungUp from None
            return None
        kind = event[0]
        if kind == "ended":
            raise HungUp
        if kind == "redirect":
            target = next_from_url(event[1])
            if target is not None:
                raise Redirected(target)
            return None
        if kind == "dtmf":
            self.timeline.append((f"dtmf:{event[1]}", time.monotonic()))
        return event
