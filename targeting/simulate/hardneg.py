"""Legitimate accounts that look like extraction: evaluation harnesses, load tests and agent
products."""

from __future__ import annotations

from . import benchmarks as B
from . import network as N
from . import text_coding as TC
from . import text_common as C
from . import text_other as TO
from . import text_reasoning as TR
from . import text_tools as TT
from . import timing as TM
from .personas import Account, Req, Voice, _date_of
from .rand import R

_MC_SUBJ = ["high school biology", "world history", "microeconomics", "formal logic", "nutrition",
            "computer security", "astronomy", "professional law", "clinical knowledge", "philosophy"]


def _mc(r: R, stem: str) -> str:
    opts = r.sample(["12", "7", "0.25", "1/3", "It increases", "It decreases", "None of the above",
                     "Both A and B", "42", "3.5", "True", "False", "Cannot be determined", "18"], 4)
    return stem + "\n" + "\n".join(f"{'ABCD'[i]}) {o}" for i, o in enumerate(opts)) + "\nAnswer:"


def eval_item(r: R, area: str, fmt: int) -> Req:
    if area == "reasoning":
        pr = TR.problem(r)
        k = fmt % 4
        if k == 0:
            tail = "Answer with a single number or expression." if pr.topic not in TR._NO_ATTEMPT else "Answer concisely."
            return Req(f"Question: {pr.text}\n{tail}", None, None, area)
        if k == 1:
            return Req(f"Solve the following problem. Put your final answer in \\boxed{{}}.\n\n{pr.text}", None, None, area)
        if k == 2:
            return Req(_mc(r, f"The following is a multiple choice question about mathematics.\n\n{pr.text}"), None, None, area)
        sol = TR.student_solution(r, pr)
        return Req(f"[Instruction] Please act as an impartial judge and evaluate the response to the question below. "
                   f"Rate it on a scale of 1 to 10 and explain briefly.\n[Question]\n{pr.text}\n[Response]\n{sol}", None, None, area)
    if area == "other":
        k = fmt % 4
        if k == 0:
            return Req(_mc(r, f"The following is a multiple choice question about {r.pick(_MC_SUBJ)}.\n\n"
                              f"{TO.make(r, 'knowledge')}"), None, None, area)
        if k == 1:
            return Req(f"Summarize the following text in one sentence.\n\n{TO.paragraph(r, None, (4, 6))}", None, None, area)
        if k == 2:
            return Req(f"Translate the following sentence into {r.pick(C.LANG_NAMES)}. Output only the translation.\n\n{r.pick(TO._SENTS)}", None, None, area)
        return Req(TO.make(r, r.pick(["writing", "email", "creative", "advice"])), None, None, area)
    if area == "tool_use":
        ents = r.sample(TT.ENTITY_NAMES, r.randint(1, 2))
        funcs = TT.toolset(r, ents, (1, 4), generic=0.4)
        return Req(TT.ask(r, TT.ENTITIES[ents[0]]), None, TT.tools_json(funcs), area)
    rp = TC.repo(r)
    if fmt % 2 == 0:
        ids = TC._ids(r, rp)
        return Req(f"Complete the following {rp.lang} function so that the hidden tests pass. Return only code.\n\n"
                   f"```{TC.FENCE[rp.lang]}\n{TC.snippet(r, rp, ids)}\n```", None, None, "agentic_coding")
    return Req(TC.task(r, rp), None, None, "agentic_coding")


def eval_suite(r: R, size: int) -> list[Req]:
    mix = ["reasoning"] * 7 + ["other"] * 5 + ["tool_use"] * 4 + ["agentic_coding"] * 4
    fmt = r.randint(0, 3)
    system = r.pick([None, None, "You are a helpful assistant.", "Answer the question. Be precise."])
    suite = []
    for i in range(size):
        q = eval_item(r, mix[i % len(mix)], fmt + (i // len(mix)) % 2)
        suite.append(Req(q.prompt, system, q.tools, q.area))
    r.shuffle(suite)
    return suite


def eval_harness(r: R, w: TM.Window, pools: N.SharedPools, scale: float, suite: list[Req] | None = None) -> Account:
    acc = Account("hard_negative", "eval_harness")
    size = max(10, int(round(r.lognormal_int(180, 0.4, 100, 400) * scale)))
    suite = suite or eval_suite(r, size)
    runs = r.wpick([2, 3, 4], [4, 3, 2])
    days = sorted(r.sample(range(w.days), min(runs, w.days)))
    ip = r.pick(pools.corporate) if r.maybe(0.5) else N.cloud(r)
    tz = TM.pick_tz(r)
    for d in days:
        start = w.t0 + d * TM.DAY + (r.uniform(8, 22) - tz) * 3600
        if start >= w.t1:  # a late run on the window's last day (a one-day window: its only run)
            start = w.t1 - 3600
        ts = TM.burst(r, len(suite), start, r.uniform(0.3, 3.0))
        for t, q in zip(ts, suite):
            if t >= w.t1:
                break
            acc.times.append(float(max(t, w.t0 + 1)))
            acc.reqs.append(q)
            acc.ips.append(ip)
    acc.created_at = N.created_before(r, min(acc.times), old_days=(60, 1200), recent_share=0.05)
    return acc


_STRESS = [
    ("Say OK.", "other"), ("ping", "other"), ("Write a haiku about the ocean.", "other"),
    ("What is 2+2?", "reasoning"), ("Return the JSON {\"status\": \"ok\"} and nothing else.", "other"),
    ("Summarize: The quick brown fox jumps over the lazy dog. The dog did not react.", "other"),
    ("Tell me a joke.", "other"), ("Count from 1 to 10.", "reasoning"),
    ("What's the weather in Paris?", "tool_use"),
]


def stress_test(r: R, w: TM.Window, pools: N.SharedPools, scale: float) -> Account:
    acc = Account("hard_negative", "stress_test")
    base, area = r.pick(_STRESS)
    tools = TT.tools_json([TT.WEATHER]) if area == "tool_use" else None
    mode = r.randint(0, 3)
    n_total = max(5, int(round(r.randint(200, 800) * scale)))
    bursts = r.randint(1, 3)
    ip = N.cloud(r)
    tag = r.pick(["lt", "load", "perf", "bench", "k6"])
    i = 0
    for b in range(bursts):
        nb = n_total // bursts + (1 if b < n_total % bursts else 0)
        start = w.t0 + r.uniform(0, w.days - 0.1) * TM.DAY
        ts = TM.burst(r, nb, start, r.uniform(0.05, 0.6))
        for t in ts:
            if t >= w.t1:
                break
            if mode == 0:
                p = base
            elif mode == 1:
                p = f"{base} [{tag}-{i:05d}]"
            elif mode == 2:
                p = f"{base} (request {i})"
            else:
                p = base + " " + r.pick(["", "", " ", "."])
            acc.times.append(float(t))
            acc.reqs.append(Req(p.strip(), None, tools, area))
            acc.ips.append(ip)
            i += 1
    if not acc.times:
        acc.times.append(w.t0 + 10)
        acc.reqs.append(Req(base, None, tools, area))
        acc.ips.append(ip)
    acc.created_at = N.created_before(r, min(acc.times), old_days=(5, 600), recent_share=0.15)
    return acc


_PRODUCTS = ["Codewright", "ShipIt AI", "Refactorly", "PatchPilot", "Bramble Code", "Stackhand", "Kodo"]


def agent_product(r: R, w: TM.Window, pools: N.SharedPools, scale: float,
                  public: tuple[str, ...] = ()) -> Account:
    """An AI product's account: its users' sessions under one fixed system prompt and tool set;
    users of a coding product now and then paste a public benchmark item (``public``) to try it."""
    acc = Account("hard_negative", "agent_product")
    tried = r.child("public-items")  # own stream: every other draw stays as it was
    area = r.wpick(["agentic_coding", "tool_use"], [3, 1])
    public = public if area == "agentic_coding" else ()
    n = max(20, int(round(r.lognormal_int(600, 0.5, 300, 1500) * scale)))
    prod = r.pick(_PRODUCTS)
    if area == "agentic_coding":
        lang = r.pick(["Python", "TypeScript", "Go", "Java", "Rust"])
        system = (f"You are {prod}, an AI software engineer embedded in the customer's repository. "
                  f"You can read and edit files and run commands using the provided tools. "
                  f"Follow the project's conventions, keep changes minimal, and always run the test suite before finishing. "
                  f"If a task is ambiguous, ask one clarifying question. Never expose secrets from .env files.")
        tools = TC.coding_tools_json(r, style=r.randint(0, 2))
        repos = [TC.repo(r, lang) for _ in range(r.randint(2, 6))]
        voices = [Voice(r.child("v", i), areas={"agentic_coding": 1.0}, repo=r.pick(repos),
                        agent_system=system, agent_tools=tools) for i in range(max(4, n // 25))]
    else:
        ents = r.sample(TT.ENTITY_NAMES, r.randint(2, 3))
        funcs = TT.toolset(r, ents, (5, 9), generic=0.5)
        tools = TT.tools_json(funcs)
        comp = r.pick(C.COMPANIES)
        system = (f"You are the virtual assistant of {comp}. Help customers with their requests using the available functions. "
                  f"Always confirm before making changes. Today's date is provided by the platform.")
        voices = [Voice(r.child("v", i), areas={"tool_use": 1.0}, tool_entities=ents, tool_funcs=funcs,
                        tools_json=tools, tool_system=system) for i in range(max(4, n // 25))]
    ips = [N.cloud(r) for _ in range(r.randint(1, 4))]
    tzs = [TM.pick_tz(r) for _ in range(3)]
    night_share = r.uniform(0.05, 0.3)
    while len(acc.reqs) < n:
        v = r.pick(voices)
        size = min(r.randint(1, 8), n - len(acc.reqs))
        if r.maybe(night_share):
            t0 = r.uniform(w.t0, w.t1 - 3600)
            ts = w.fit([t0 + j * r.uniform(20, 300) for j in range(size)])
        else:
            ts = TM.human_sessions(r, w, [size], r.pick(tzs), weekend_w=0.25, gap_median=60)[0]
        reqs = v.session(r, size, _date_of(w, ts[0]))
        for t, q in zip(ts, reqs):
            acc.times.append(t)
            prompt = B.maybe_public(tried, B.PRODUCT_SHARE, public) or q.prompt
            acc.reqs.append(Req(prompt, system, tools, area))
            acc.ips.append(r.pick(ips))
    acc.created_at = N.created_before(r, min(acc.times), old_days=(90, 1000), recent_share=0.0)
    return acc
