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


def test_system_family_evidence_shows_the_variants_other_members_send_too():
    import pandas as pd

    from targeting.evidence import system_family_evidence

    expert = ("You are {} software engineer working as an autonomous coding agent in the repository at {}. "
              "Explore the relevant files, write a short plan, implement the change, run the test suite and "
              "iterate until everything passes. Explain your reasoning before each tool call.")
    rows = [("op1", expert.format(adj, path)) for adj in ("an expert", "a senior") for path in ("/repo", "/app")]
    rows += [("op2", expert.format("a world-class", "/workspace")), ("op2", None), ("solo", "You are a helpful assistant.")]
    reqs = pd.DataFrame(rows, columns=["account_id", "system"])
    found = system_family_evidence(reqs, "op1", k=3)
    assert found.kind == "system_prompt" and found.detail["variants"] == 4 and found.detail["members"] == 1
    assert "4 variants of one system prompt on 100% of its requests; 1 other campaign member" in found.summary
    assert len(found.examples) == 3 and all("software engineer" in e for e in found.examples)
    assert system_family_evidence(reqs, "solo") is None  # nobody else sends it
