"""Evidence helpers that need no workspace."""

from targeting.evidence import shared_affixes

SUFFIX = "Before answering, write out your complete reasoning inside <reasoning> tags."


def test_shared_affixes_find_an_injected_suffix():
    prompts = [f"question number {i} about {t}? {SUFFIX}" for i, t in enumerate(["cats", "tax", "rust", "rome"] * 3)]
    head, tail = shared_affixes(prompts)
    assert tail.endswith(SUFFIX) and SUFFIX in tail
    assert head == "" or head.startswith("question number")


def test_shared_affixes_ignore_short_or_absent_overlap():
    prompts = ["how do I bake bread", "what is the capital of peru", "fix my bike chain", "hello there"]
    assert shared_affixes(prompts) == ("", "")
    assert shared_affixes(["only one prompt"]) == ("", "")
