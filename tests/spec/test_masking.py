"""The secrets masker (``pinflow.spec.masking``): which values it registers and how it redacts
text and JSON-like values, as Airflow's secrets masker does."""

from __future__ import annotations

import json
import urllib.parse

import pytest

from pinflow.spec.masking import MASK, SecretsMasker, is_sensitive, quoted_forms, redact_keys


@pytest.fixture
def masker() -> SecretsMasker:
    return SecretsMasker()


def test_names_that_look_sensitive() -> None:
    for name in ("password", "DB_PASSWORD", "api_key", "my_secret", "Authorization", "token"):
        assert is_sensitive(name), name
    for name in ("host", "bucket", "login", "schema", "passage"):
        assert not is_sensitive(name), name


def test_nothing_registered_redacts_nothing(masker: SecretsMasker) -> None:
    assert not masker
    assert masker.redact_text("hunter22 and more") == "hunter22 and more"
    assert masker.redact({"a": ["hunter22"]}) == {"a": ["hunter22"]}


def test_a_registered_value_is_replaced_wherever_it_appears(masker: SecretsMasker) -> None:
    masker.add("hunter22")
    assert masker
    assert masker.redact_text("pw=hunter22; again hunter22!") == f"pw={MASK}; again {MASK}!"
    assert masker.redact_text("hunter2 is not it") == "hunter2 is not it"


def test_values_shorter_than_five_characters_are_not_masked(masker: SecretsMasker) -> None:
    masker.add("abcd")
    masker.add("")
    assert not masker
    assert masker.redact_text("abcd abcd") == "abcd abcd"
    masker.add("abcde")
    assert masker.redact_text("abcd abcde") == f"abcd {MASK}"


def test_quoted_forms_are_registered_too(masker: SecretsMasker) -> None:
    secret = 'p@ss w/"d\\x'
    masker.add(secret)
    as_json = json.dumps({"password": secret})
    assert secret not in masker.redact_text(as_json)
    assert masker.redact_text(as_json) == '{"password": "***"}'
    url = f"postgres://etl:{urllib.parse.quote(secret, safe='')}@db/x"
    assert masker.redact_text(url) == "postgres://etl:***@db/x"
    form = f"a={urllib.parse.quote_plus(secret)}&b=1"
    assert masker.redact_text(form) == "a=***&b=1"
    assert masker.redact_text(repr({"k": secret})) == "{'k': '***'}"
    assert quoted_forms("ab") == set()  # a short value has no form worth masking


def test_each_line_of_a_multi_line_secret_is_masked(masker: SecretsMasker) -> None:
    key = "-----BEGIN KEY-----\nMIIEvQIBADANBg\nkqhkiG9w0BAQEF\n-----END KEY-----"
    masker.add(key)
    assert masker.redact_text(f"key={key}!") == "key=***!"
    assert masker.redact_text("line kqhkiG9w0BAQEF alone") == "line *** alone"


def test_a_longer_secret_containing_a_shorter_one_is_masked_whole(
    masker: SecretsMasker,
) -> None:
    masker.add("secret1")
    masker.add("secret1-and-more")
    assert masker.redact_text("x secret1-and-more y secret1") == f"x {MASK} y {MASK}"


def test_nested_values_are_redacted_and_sensitive_keys_hidden(masker: SecretsMasker) -> None:
    masker.add("hunter22")
    value = {
        "bash_command": "psql -p hunter22",
        "env": {"PGPASSWORD": "anything", "HOST": "db"},
        "list": ["x hunter22", ("hunter22",), 3, None],
        "token": "",
    }
    assert masker.redact(value) == {
        "bash_command": f"psql -p {MASK}",
        "env": {"PGPASSWORD": MASK, "HOST": "db"},
        "list": [f"x {MASK}", [MASK], 3, None],
        "token": "",
    }
    assert masker.redact("whole", "api_key") == MASK


def test_a_name_decides_whether_a_value_is_a_secret(masker: SecretsMasker) -> None:
    masker.add("s3://bucket", "bucket")
    assert not masker
    masker.add("tok-12345", "api_token")
    masker.add({"user": "someone", "password": "pw-67890", "deep": {"secret": ["sss-11111"]}}, "x")
    text = "someone tok-12345 pw-67890 sss-11111"
    assert masker.redact_text(text) == f"someone {MASK} {MASK} {MASK}"


def test_a_sensitive_name_registers_every_string_in_its_value(masker: SecretsMasker) -> None:
    masker.add({"a": "first-value", "b": ["second-value"]}, "service_account")
    assert masker.redact_text("first-value second-value") == f"{MASK} {MASK}"


def test_a_connections_password_and_sensitive_extra_fields(masker: SecretsMasker) -> None:
    extra = json.dumps({"region": "eu-west-1", "api_key": "key-abcdef", "nested": {"token": 12345}})
    masker.add_connection({"login": "etl-user", "password": "pw-hunter", "extra": extra})
    text = "etl-user pw-hunter key-abcdef eu-west-1"
    assert masker.redact_text(text) == f"etl-user {MASK} {MASK} eu-west-1"
    masker.add_connection({"password": None, "extra": "not json"})  # nothing to go by


def test_redact_keys_masks_by_name_only() -> None:
    value = {"a": [{"password": "x", "b": 1}], "token": {"deep": 1}, "c": ("secret",)}
    assert redact_keys(value) == {"a": [{"password": MASK, "b": 1}], "token": MASK, "c": ["secret"]}
