"""The vocabulary of the phone line's flows, whatever carries the call: steps return actions.

A flow step is a function `(call, params, heard) -> Action`. An action says what the caller hears
and what to collect ("play these prompts, wait for a key, then go to step X with these params").
The TwiML adapter renders an action as a TwiML document whose URLs name the next steps; the SIP
call driver performs it on the live call and calls the next step itself. So the menu, read-back,
messages, help calls and confirmations are written once (voice/ivr.py, voice/helpcall_hooks.py,
voice/confirm_hooks.py) and run over both transports.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.container import Services

Speech = tuple[str, str | None]  # (text, prompt id or None); a prompt id lets a recorded human file replace TTS
Params = dict[str, Any]


@dataclass(frozen=True)
class Next:
    """The step to run next and its parameters (query string for TwiML, plain values for SIP)."""

    step: str
    params: Params = field(default_factory=dict)


@dataclass(frozen=True)
class Say:
    """Speak, then go on to `then`, hang up, or (neither) end the document / wait for the next event."""

    items: Sequence[Speech]
    then: Next | None = None
    hangup: bool = False


@dataclass(frozen=True)
class AskKey:
    """Ask for one key; the question repeats `repeat` times on silence, then `on_none`."""

    items: Sequence[Speech]
    on_key: Next
    on_none: Next
    timeout_s: int = 6
    repeat: int = 2


@dataclass(frozen=True)
class Menu:
    """The main menu: a key during the prompt goes to `on_key`; after it, a beep and the caller's spoken answer
    goes to `on_speech` (a key then also ends it, as `digits`); silence goes to `on_silence`."""

    items: Sequence[Speech]
    on_key: Next
    on_speech: Next
    on_silence: Next
    record_max_s: int
    silence_s: int
    key_wait_s: int = 2


@dataclass(frozen=True)
class Record:
    """Prompt, beep, record a message until # or silence; nothing recorded → `on_silence`."""

    items: Sequence[Speech]
    on_done: Next
    on_silence: Next | None
    max_s: int
    silence_s: int
    purpose: str = "message"  # menu / sell / message / identity: how the audio is recognised
    beep: bool = True
    then_hangup_items: Sequence[Speech] = ()  # on_silence None: say these and hang up when nothing was recorded
    trim: bool = True  # TwiML: trim leading and trailing silence from the recording
    keys_choose: bool = False  # a digit (not #) at the beep or within 2 s is a menu choice, handed to on_done


@dataclass(frozen=True)
class Hold:
    """Keep the caller company while speech is recognised, then `poll` again."""

    items: Sequence[Speech]
    poll: Next
    pause_s: int = 1


@dataclass(frozen=True)
class Dial:
    """Put the caller through to `number`; `on_done` hears how it went (`dial_status`)."""

    items: Sequence[Speech]
    number: str
    caller_id: str | None
    timeout_s: int
    on_done: Next
    on_answered: Next | None = None  # told when the other phone picks up (help-call bridge: 已接通)


@dataclass(frozen=True)
class Nothing:
    """No instructions (status callbacks)."""


Action = Say | AskKey | Menu | Record | Hold | Dial | Nothing


@dataclass(frozen=True)
class Recorded:
    """What the caller said into a recording: where the audio is and, on SIP, what streaming recognition heard."""

    url: str
    duration_s: int
    text: str | None = None  # streaming result (None: recognise the recording as usual)
    confidence: float | None = None
    understood: bool | None = None  # grammar-first verdict on a menu answer (None: not judged)
    pcm16k: bytes | None = field(default=None, repr=False)  # for the free-mode pass after a grammar miss

    @property
    def streamed(self) -> bool:
        """Whether streaming recognition already heard it (SIP): its result is stored, not queued for recognition."""
        return self.text is not None or self.understood is not None


@dataclass(frozen=True)
class Heard:
    """What came back from the caller for the step that asked (the parsed webhook form, or the live call)."""

    digits: str = ""
    recording: Recorded | None = None
    dial_status: str = ""  # completed / answered / busy / no-answer / failed / canceled
    call_status: str = ""
    extra: Params = field(default_factory=dict)


@dataclass(frozen=True)
class CallInfo:
    """Which call a step runs for: the provider's id and the numbers as the network gave them."""

    services: Services
    call_id: str | None
    caller: str | None
    called: str | None
    transport: str = "twilio"  # twilio / sip
    village_id: int | None = None  # the village whose number was dialled (SIP number mapping)


Step = Callable[[CallInfo, Params, Heard], Action]
STEPS: dict[str, Step] = {}
FLOW_MODULES = ("voice.ivr", "voice.helpcall_hooks", "voice.confirm_hooks")  # their import registers the steps


def load_steps() -> None:
    """Import every module that defines steps (the web app imports them anyway; the SIP process must)."""
    import importlib

    for name in FLOW_MODULES:
        importlib.import_module(name)


def step(name: str) -> Callable[[Step], Step]:
    """Register a flow step under a name (the TwiML adapter serves it at /voice/twilio/<name>)."""

    def register(func: Step) -> Step:
        STEPS[name] = func
        return func

    return register


def run_step(name: str, call: CallInfo, params: Params | None = None, heard: Heard | None = None) -> Action:
    """Run one registered step."""
    try:
        func = STEPS[name]
    except KeyError:
        raise LookupError(f"no flow step {name!r}") from None
    return func(call, dict(params or {}), heard or Heard())


def step_for_path(path: str, prefix: str = "/voice/twilio/") -> str | None:
    """The step a flow URL path names (`/voice/twilio/help/answer` → `help/answer`), or None."""
    if not path.startswith(prefix):
        return None
    name = path[len(prefix):].strip("/")
    return name if name in STEPS else None
