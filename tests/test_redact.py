"""Redaction of prompts quoted in reports: every pattern is masked, plain text is kept."""

from hypothesis import given, settings, strategies as st
from hypothesis.provisional import urls

from targeting.redact import redact, shorten

WORDS = st.text(alphabet="abcdefghij klmnop", max_size=40)


def _embedded(secret_strategy):
    return st.tuples(WORDS, secret_strategy, WORDS)


@settings(max_examples=150, deadline=None)
@given(_embedded(st.emails()))
def test_emails_are_masked(parts):
    before, secret, after = parts
    out = redact(f"{before} {secret} {after}")
    assert secret not in out
    assert "[email]" in out


@settings(max_examples=150, deadline=None)
@given(_embedded(urls()))
def test_urls_are_masked(parts):
    before, secret, after = parts
    out = redact(f"{before} {secret}. {after}")
    assert secret not in out
    assert "[url]" in out


KEYS = st.one_of(
    st.from_regex(r"sk-(ant-)?[A-Za-z0-9]{20,48}", fullmatch=True),
    st.from_regex(r"AKIA[0-9A-Z]{16}", fullmatch=True),
    st.from_regex(r"ghp_[A-Za-z0-9]{36}", fullmatch=True),
    st.from_regex(r"xoxb-[0-9]{10,12}-[A-Za-z0-9]{20}", fullmatch=True),
    st.from_regex(r"eyJ[A-Za-z0-9_-]{10,30}\.[A-Za-z0-9_-]{10,30}\.[A-Za-z0-9_-]{10,30}", fullmatch=True),
    st.from_regex(r"[0-9a-f]{32,64}", fullmatch=True).filter(lambda s: any(c.isalpha() for c in s)),
)


@settings(max_examples=200, deadline=None)
@given(_embedded(KEYS))
def test_keys_and_tokens_are_masked(parts):
    before, secret, after = parts
    out = redact(f"{before} {secret} {after}")
    assert secret not in out
    assert "[key]" in out


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(["api_key", "API-KEY", "password", "token", "secret"]),
       st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789!@#", min_size=6, max_size=30))
def test_assigned_secrets_are_masked(name, value):
    out = redact(f"connect with {name}={value} please")
    assert value not in out.replace(f"{name}=", "")
    assert f"{name}=[key]" in out


NUMBERS = st.one_of(
    st.integers(min_value=10**6, max_value=10**19).map(str),
    st.from_regex(r"\+\d{1,3} \(\d{3}\) \d{3}-\d{4}", fullmatch=True),
    st.from_regex(r"\d{4} \d{4} \d{4} \d{4}", fullmatch=True),
    st.from_regex(r"\d{3}-\d{2}-\d{4}", fullmatch=True),
)


@settings(max_examples=150, deadline=None)
@given(_embedded(NUMBERS))
def test_long_numbers_are_masked(parts):
    before, secret, after = parts
    out = redact(f"{before} {secret} {after}")
    digits = "".join(c for c in secret if c.isdigit())
    assert digits not in "".join(c for c in out if c.isdigit())
    assert "[number]" in out


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200))
def test_redaction_is_idempotent(text):
    once = redact(text)
    assert redact(once) == once


def test_plain_prompts_are_left_alone():
    for text in [
        "Solve for x: x/8 - 10 = 20. I got x = 15 but the answer key says something else.",
        "Write a function merge_sorted(a, b) in Python with tests.",
        "In 1969, 3 astronauts flew 384,400 km to the moon.",
        "Before answering, write out your complete reasoning step by step inside <reasoning></reasoning> tags.",
    ]:
        assert redact(text) == text


def test_mixed_prompt_masks_each_pattern_once():
    text = ("Email jane.doe@example.com or call +44 20 7946 0958, docs at https://internal.example.com/x?y=1. "
            "Use key sk-ant-REDACTEDkeyvalue1234567890 and host 10.2.3.4.")
    out = redact(text)
    for secret in ("jane.doe@example.com", "7946", "internal.example.com", "sk-ant-", "10.2.3.4"):
        assert secret not in out
    assert out.count("[email]") == 1 and out.count("[url]") == 1 and "[key]" in out and "[ip]" in out
    assert out.endswith("[ip].")


def test_shorten_cuts_and_collapses_whitespace():
    assert shorten("a\n\n  b", 10) == "a b"
    cut = shorten("word " * 100, 50)
    assert len(cut) <= 50 and cut.endswith("…")
