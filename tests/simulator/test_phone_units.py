"""The phone's pure parts: Gson text, encryption, multipart segmentation, masking, state precedence,
ids and timestamps."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest

from simulator.phone import encrypt_text
from simulator.phone.clock import format_local, parse_time
from simulator.phone.crypto import DecryptionError, decrypt_text
from simulator.phone.gson import dumps
from simulator.phone.inbox import text_message_id
from simulator.phone.radio import divide_message, send_result_error
from simulator.phone.registration import mask
from simulator.phone.store import LocalMessage, MessageStore, Recipient, derived_state
from simulator.phone.webhooks import java_hash, local_device_id, sign

# client-py's fixed vector: passphrase "passphrase", 75 000 iterations, this salt, "hello"
VECTOR = "$aes-256-cbc/pbkdf2-sha1$i=75000$obSTW6ittQvTtdAxonQKIw==$g3QFAC9CtBcPxoKlouqsyQ=="


def test_gson_escapes_html_characters_and_omits_nulls() -> None:
    assert dumps({"a": "x=<y>&'z'", "b": None, "c": [1, None, True], "d": "é\n\u2028\x01"}) == (
        '{"a":"x\\u003d\\u003cy\\u003e\\u0026\\u0027z\\u0027","c":[1,null,true],"d":"é\\n\\u2028\\u0001"}')


def test_encryption_matches_the_fixed_vector_and_round_trips() -> None:
    assert encrypt_text("passphrase", "hello", salt=bytes.fromhex("a1b4935ba8adb50bd3b5d031a2740a23")) == VECTOR
    assert decrypt_text("passphrase", VECTOR) == "hello"
    token = encrypt_text("s3cret", "Привет, мир! 👋", iterations=1000)
    assert token.startswith("$aes-256-cbc/pbkdf2-sha1$i=1000$")
    assert len(base64.b64decode(token.split("$")[3])) == 16  # the salt, also the IV
    assert decrypt_text("s3cret", token) == "Привет, мир! 👋"


@pytest.mark.parametrize(("passphrase", "value", "error"), [
    ("wrong", VECTOR, "BAD_DECRYPT"),
    (None, VECTOR, "Passphrase is not set"),
    ("p", "$aes-256-cbc/pbkdf2-sha1$i=1$abc", "Invalid encrypted data format"),
    ("p", "$aes-128-gcm$i=1$a$b", "Unsupported algorithm"),
    ("p", "$aes-256-cbc/pbkdf2-sha1$n=1$a$b", "Missing iteration count"),
])
def test_decryption_errors_carry_the_app_texts(passphrase: str | None, value: str, error: str) -> None:
    with pytest.raises(DecryptionError, match=error):
        decrypt_text(passphrase, value)


@pytest.mark.parametrize(("text", "parts"), [
    ("", 1), ("a" * 160, 1), ("a" * 161, 2), ("a" * 306, 2), ("a" * 307, 3),
    ("€" * 80, 1), ("€" * 81, 2),  # extension characters take two septets
    ("ж" * 70, 1), ("ж" * 71, 2), ("ж" * 134, 2), ("ж" * 135, 3),
    ("👋" * 35, 1), ("👋" * 36, 2),  # a surrogate pair is two UCS-2 units
])
def test_multipart_segmentation(text: str, parts: int) -> None:
    divided = divide_message(text)
    assert len(divided) == parts and "".join(divided) == text


def test_segments_never_split_an_escape_or_a_surrogate_pair() -> None:
    assert [len(p) for p in divide_message("a" * 152 + "€" + "a" * 10)] == [152, 11]
    assert [len(p) for p in divide_message("ж" * 66 + "👋" * 3)] == [66, 3]


def test_send_errors_are_the_apps_strings() -> None:
    assert send_result_error("RESULT_ERROR_GENERIC_FAILURE") == (
        "Send result: RESULT_ERROR_GENERIC_FAILURE (Generic failure cause)")
    assert send_result_error("RESULT_ERROR_RADIO_OFF") == (
        "Send result: RESULT_ERROR_RADIO_OFF (Failed because radio was explicitly turned off)")
    assert send_result_error("999") == "Send result: Unknown error code: 999."


def test_sim_fields_are_masked_like_the_app() -> None:
    assert mask("+15551234567") == "********4567"
    assert mask("Tele2") == "*ele2"
    assert mask("MTS") == "****" and mask("") == "****"


@pytest.mark.parametrize(("states", "expected"), [
    (["Pending", "Sent"], "Pending"), (["Cancelling", "Processed"], "Cancelling"),
    (["Cancelled", "Delivered"], "Cancelled"), (["Processed", "Failed"], "Processed"),
    (["Failed", "Failed"], "Failed"), (["Delivered", "Delivered"], "Delivered"),
    (["Delivered", "Failed"], "Sent"), (["Sent", "Delivered"], "Sent"),
])
def test_message_state_precedence(states: list[str], expected: str) -> None:
    assert derived_state([Recipient(str(i), s) for i, s in enumerate(states)]) == expected


def test_failed_is_sticky_and_states_keep_the_first_time() -> None:
    store = MessageStore()
    message = LocalMessage("m", 1, "hi", None, None, [Recipient("+1"), Recipient("+2")])
    store.insert(message, 1000)
    assert store.update(message, "+1", "Processed", None, 2000) is not None
    store.update(message, "+2", "Failed", "sendSMS: boom", 2001)
    assert message.state == "Processed" and message.processed_at == 2001  # once no recipient is Pending
    store.update(message, "+1", "Sent", None, 3000)
    late = store.update(message, "+2", "Delivered", None, 4000)  # Failed stays, the update is still announced
    assert late is not None and not late.message_state_changed and message.recipients[1].state == "Failed"
    store.update(message, "+1", "Delivered", None, 5000)
    assert message.state == "Sent" and message.recipients[1].error == "sendSMS: boom"
    assert message.states == {"Pending": 1000, "Processed": 2001, "Sent": 3000}


def _i32(value: int) -> int:
    return (value + 2**31) % 2**32 - 2**31


def _string_hash(text: str) -> int:  # Java String.hashCode over BMP characters
    h = 0
    for ch in text:
        h = _i32(31 * h + ord(ch))
    return h


def test_java_hash_codes_and_ids() -> None:
    assert java_hash("hello") == 99162322 == _string_hash("hello")
    assert java_hash("samsung/beyond0ltexx") == _string_hash("samsung/beyond0ltexx")
    date = 1_700_000_000_123
    expected = _i32(31 * _i32(31 * _i32(31 * _string_hash("+15550001") + _i32(date ^ (date >> 32))) + 1)
                    + _string_hash("hi"))
    assert text_message_id("+15550001", date, 1, "hi") == f"{expected & 0xFFFFFFFF:x}"
    assert text_message_id("+15550001", date, 1, "hi") != text_message_id("+15550001", date, 2, "hi")
    assert local_device_id("a/b", 0x18E937C815B) == f"{_string_hash('a/b') & 0xFFFFFFFFFFFFFFFF:016x}0000018e937c815b"


def test_signature_is_hex_hmac_sha256_of_body_plus_timestamp() -> None:
    assert sign("key", '{"a":1}', "1700000000") == "5cff791334e7fd8344cc05c2398964f60329f4edd6ab1087ed1ba6c34eefeeca"


def test_timestamps_are_phone_local_with_milliseconds() -> None:
    moment = datetime(2026, 7, 1, 3, 15, 30, 123456, tzinfo=UTC)
    assert format_local(moment.astimezone(timezone(timedelta(hours=7)))) == "2026-07-01T10:15:30.123+07:00"
    assert format_local(moment.astimezone(timezone(timedelta(hours=-3, minutes=-30)))) == (
        "2026-06-30T23:45:30.123-03:30")
    assert format_local(moment) == "2026-07-01T03:15:30.123Z"
    assert parse_time("2026-07-01T03:15:30.123456789Z") == pytest.approx(moment.timestamp(), abs=1e-6)
    assert parse_time("2026-07-01T10:15:30+07:00") == pytest.approx(moment.timestamp() - 0.123456, abs=1e-6)


def test_cloud_settings_as_the_app_imports_them() -> None:
    from simulator.phone import PhoneConfig
    from simulator.phone.settings import DeviceSettings

    settings = DeviceSettings.from_config(PhoneConfig(server="http://x", limit_value=5, webhook_retry_count=3))
    settings.apply_cloud({"messages": {"send_interval_min": "7", "limit_value": 2.9},
                          "webhooks": {"retry_count": None, "signing_key": "abc"}, "encryption": {"passphrase": 1}})
    assert (settings.send_interval_min, settings.limit_value, settings.retry_count) == (7, 2, 15)  # null: default
    assert settings.signing_key == "abc" and settings.passphrase == "1.0"  # Gson's Double, toString()
    for bad in ({"limit_period": "Weekly"}, {"limit_value": -1}, {"send_interval_max": "soon"},
                {"sim_selection_mode": True}):
        with pytest.raises(ValueError):
            settings.apply_cloud({"messages": {"processing_order": "FIFO", **bad, "send_interval_min": 99}})
        assert settings.processing_order == "fifo"  # before the bad key: applied
        assert settings.send_interval_min == 7  # after it: not
        settings.processing_order = "lifo"
    with pytest.raises(ValueError, match="https"):
        settings.apply_cloud({"gateway": {"cloud_url": "http://plain.example"}})
