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


# --- campaign evidence: one pure function per kind, over the members' requests ---------------------

def _campaign_requests():
    """Three members wrap numbered maths questions in one suffix, send one system prompt (numbers
    varying) and one tool set; a fourth member sends unrelated prompts and no context."""
    import pandas as pd

    tools = '[{"name": "search", "parameters": {"properties": {"q": {}}}}, {"name": "calc"}]'
    rows = []
    for a, acct in enumerate(["a1", "a2", "a3"]):
        for i in range(3):
            k = 10 * a + i
            rows.append((f"r{k}", acct, f"Solve step {k}: what is {k} times {k + 1}? {SUFFIX}",
                         f"You are grader number {a} for the exam; score strictly.", tools, "math", f"c{i}"))
    rows += [(f"r9{i}", "a4", text, None, None, "other", "c9")
             for i, text in enumerate(["bake bread at home", "the capital of peru", "fix my bike chain"])]
    return pd.DataFrame(rows, columns=["request_id", "account_id", "prompt", "system", "tools", "area", "cluster_id"])


def test_coverage_evidence_names_the_area_its_share_and_reach():
    import pandas as pd

    from targeting.evidence import coverage_evidence

    summary = pd.Series({"target_area": "math_proofs", "n_requests": 1234, "target_share": 0.5,
                         "covered_clusters": 3, "area_clusters": 10, "coverage": 0.3})
    found = coverage_evidence(summary, 4)
    assert found.kind == "coverage" and found.detail["area"] == "math_proofs"
    assert found.summary == ("4 accounts, 1,234 requests, 50% of them in math proofs; together their math proofs "
                             "requests fall in 3 distinct clusters (the map has 10 math proofs clusters: coverage 30%)")
    unknown = coverage_evidence(summary.copy().replace({0.5: float("nan"), 3: float("nan")}), 4)
    assert unknown.summary == "4 accounts, 1,234 requests, targeting math proofs"


def test_wrapper_evidence_finds_the_shared_suffix_in_whole_words():
    from targeting.evidence import wrapper_evidence

    found = wrapper_evidence(_campaign_requests(), 4)
    assert [e.detail["part"] for e in found] == ["end"]
    assert found[0].detail["text"] == SUFFIX and found[0].detail["accounts"] == 3
    assert found[0].detail["share"] == 0.75 and found[0].summary.startswith("3 of 4 accounts end 75% of their prompts")
    assert wrapper_evidence(_campaign_requests().query("account_id == 'a4'"), 1) == []


def test_system_prompt_evidence_groups_variants_of_one_prompt():
    from targeting.evidence import system_prompt_evidence

    reqs = _campaign_requests()
    found = system_prompt_evidence(reqs, 4)
    assert found.kind == "system_prompt" and found.detail["accounts"] == 3 and found.detail["variants"] == 3
    assert found.detail["share"] == 0.75 and "3 of 4 accounts send the same system prompt (3 variants)" in found.summary
    assert system_prompt_evidence(reqs, 8) is None  # 3 of 8 members: fewer than half


def test_tools_evidence_names_the_shared_tool_set():
    from targeting.evidence import tools_evidence

    reqs = _campaign_requests()
    found = tools_evidence(reqs, 4)
    assert found.kind == "tools" and found.detail["tools"] == ["calc", "search"] and found.detail["accounts"] == 3
    assert found.summary == "3 of 4 accounts send the same tool set (calc, search) on 75% of requests"
    assert tools_evidence(reqs.assign(tools=None), 4) is None


def test_template_evidence_finds_skeletons_several_members_fill():
    from targeting.evidence import template_evidence

    reqs = _campaign_requests()
    found = template_evidence(reqs, 4)
    assert found.kind == "template" and found.detail["templates"] == 1 and found.detail["share"] == 0.75
    assert "by 3 accounts" in found.summary and found.detail["top"].split()[:3] == ["solve", "step", "⟨n⟩"]
    assert template_evidence(reqs[reqs["account_id"] == "a4"], 4) is None  # nobody shares a4's prompts


def test_example_evidence_takes_prompts_of_different_members_in_the_area():
    from targeting.evidence import example_evidence

    reqs = _campaign_requests()
    found = example_evidence(reqs, "math", 2)
    assert found.kind == "examples" and found.summary == "2 example prompts of the campaign"
    owners = reqs.set_index("prompt").loc[found.examples, "account_id"]
    assert owners.nunique() == 2 and (reqs.set_index("prompt").loc[found.examples, "area"] == "math").all()
    assert len(example_evidence(reqs, "math", 10).examples) == 3  # one per member at most
