"""TwiML documents as small pure functions (tested by parsing the XML).

`Speech` items are (text, prompt_id or None); a Speaker turns each into <Play> or <Say>.
"""

from __future__ import annotations

from collections.abc import Sequence

from twilio.twiml.voice_response import Gather, VoiceResponse

from voice.flow import Speech
from voice.speech import Speaker

RECORD_FINISH_KEYS = "0123456789*#"


def _speak(speaker: Speaker, node: object, items: Sequence[Speech]) -> None:
    for text, prompt_id in items:
        speaker.add(node, text, prompt_id)


def speak_then(speaker: Speaker, items: Sequence[Speech], *, redirect: str | None = None,
               hangup: bool = False) -> str:
    """Say things, then redirect to the next step or hang up."""
    response = VoiceResponse()
    _speak(speaker, response, items)
    if redirect:
        response.redirect(redirect)
    elif hangup:
        response.hangup()
    return str(response)


def menu(speaker: Speaker, items: Sequence[Speech], *, key_action: str, record_action: str, silent_url: str,
         record_max_s: int, silence_s: int, key_wait_s: int = 2) -> str:
    """The main menu: keys are caught while the prompt plays, then a beep records free speech.

    A key pressed during the recording ends it and arrives as `Digits`; silence falls through to
    `silent_url` (the menu never hangs up on a silent caller).
    """
    response = VoiceResponse()
    gather = Gather(input="dtmf", num_digits=1, timeout=key_wait_s, action=key_action, method="POST")
    _speak(speaker, gather, items)
    response.append(gather)
    response.record(action=record_action, method="POST", max_length=record_max_s, timeout=silence_s,
                    finish_on_key=RECORD_FINISH_KEYS, play_beep=True, trim="trim-silence")
    response.redirect(silent_url, method="POST")
    return str(response)


def record_message(speaker: Speaker, items: Sequence[Speech], *, action: str, record_max_s: int, silence_s: int,
                   after_silence: str, keys_choose: bool = False) -> str:
    """Say a prompt, record after the beep (# or silence ends it); no recording → `after_silence`.

    With `keys_choose` any key ends the recording too and reaches `action` as `Digits` (a menu choice).
    """
    response = VoiceResponse()
    _speak(speaker, response, items)
    response.record(action=action, method="POST", max_length=record_max_s, timeout=silence_s,
                    finish_on_key=RECORD_FINISH_KEYS if keys_choose else "#", play_beep=True, trim="trim-silence")
    response.redirect(after_silence, method="POST")
    return str(response)


def record_then_hangup(speaker: Speaker, items: Sequence[Speech], *, action: str, record_max_s: int, silence_s: int,
                       after: Sequence[Speech], trim: bool = True) -> str:
    """Say a prompt, record after the beep (`action` hears it); with nothing recorded say `after` and hang up."""
    response = VoiceResponse()
    _speak(speaker, response, items)
    extra = {"trim": "trim-silence"} if trim else {}
    response.record(action=action, method="POST", max_length=record_max_s, timeout=silence_s, finish_on_key="#",
                    play_beep=True, **extra)
    _speak(speaker, response, after)
    response.hangup()
    return str(response)


def hold(speaker: Speaker, items: Sequence[Speech], *, poll_url: str, pause_s: int = 1) -> str:
    """Keep the caller company while speech is recognised, then ask again (bounded by the caller's counter)."""
    response = VoiceResponse()
    _speak(speaker, response, items)
    response.pause(length=pause_s)
    response.redirect(poll_url, method="POST")
    return str(response)


def ask_digit(speaker: Speaker, items: Sequence[Speech], *, action: str, no_input_url: str, timeout_s: int = 6,
              repeat: int = 2) -> str:
    """Ask for one key, repeating the question on silence, then go to `no_input_url`."""
    response = VoiceResponse()
    for _ in range(max(1, repeat)):
        gather = Gather(input="dtmf", num_digits=1, timeout=timeout_s, action=action, method="POST")
        _speak(speaker, gather, items)
        response.append(gather)
    response.redirect(no_input_url, method="POST")
    return str(response)


def dial(speaker: Speaker, items: Sequence[Speech], *, number: str, caller_id: str | None, timeout_s: int,
         action: str) -> str:
    """Put the caller through to a number; `action` learns how it went (DialCallStatus)."""
    response = VoiceResponse()
    _speak(speaker, response, items)
    kwargs = {"caller_id": caller_id} if caller_id else {}
    response.dial(number, timeout=timeout_s, action=action, method="POST", **kwargs)
    return str(response)


def apology(speaker: Speaker, *, message_action: str, record_max_s: int = 60, silence_s: int = 5) -> str:
    """The safe path after any internal error: a spoken apology and a message for the 院长."""
    from voice.prompts import prompt_text

    return record_then_hangup(speaker, [(prompt_text("error_apology"), "error_apology")], action=message_action,
                              record_max_s=record_max_s, silence_s=silence_s,
                              after=[(prompt_text("goodbye"), "goodbye")], trim=False)


def bare_apology() -> str:
    """The last resort when even the speaker fails: a plain <Say> apology and a recording."""
    response = VoiceResponse()
    response.say("对不起，系统出了点问题。请在嘀声后留言。", language="zh-CN")
    response.record(action="/voice/twilio/fallback/message", method="POST", max_length=60, play_beep=True)
    return str(response)


def empty() -> str:
    """An empty TwiML document (for status callbacks)."""
    return str(VoiceResponse())


def bridge(speaker: Speaker, items: Sequence[Speech], *, number: str, caller_id: str | None, timeout_s: int,
           action: str, answered_callback: str) -> str:
    """Connect the person on this call to `number`; `answered_callback` hears when that phone picks up."""
    from twilio.twiml.voice_response import Dial

    response = VoiceResponse()
    _speak(speaker, response, items)
    kwargs = {"caller_id": caller_id} if caller_id else {}
    dial_node = Dial(timeout=timeout_s, action=action, method="POST", **kwargs)
    dial_node.number(number, status_callback=answered_callback, status_callback_event="answered",
                     status_callback_method="POST")
    response.append(dial_node)
    return str(response)
