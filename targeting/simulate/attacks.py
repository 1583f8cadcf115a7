"""Capability-extraction campaigns: groups of accounts that systematically cover one area.

Four campaign kinds, after the published cases: ``reasoning`` (templated problems enumerating
topic x difficulty x frame, chain-of-thought elicitation, rubric grading), ``tool_use`` (fresh
tool schemas from domains x operations, tool results, call chains, several access paths),
``agentic_coding`` (one expert agent system prompt in small variations, tasks enumerating
language x task type x repository) and ``relay`` (relayed real-user questions with one fixed
injected instruction that forces reasoning into inline tags).

What makes them detectable is behaviour only: many accounts created in batches, coordinated
round-the-clock timing, shared infrastructure, templated frames with slots, systematic
coverage, and content concentrated in one area.
"""

from __future__ import annotations

import json

from . import benchmarks as B
from . import network as N
from . import text_coding as TC
from . import text_reasoning as TR
from . import text_tools as TT
from . import timing as TM
from .config import SimConfig
from .personas import AREAS, GENERIC_SYSTEMS, Account, Req, Voice, _date_of
from .rand import R

CAMPAIGN_KINDS = ("reasoning", "tool_use", "agentic_coding", "relay")
TARGET = {"reasoning": "reasoning", "tool_use": "tool_use", "agentic_coding": "agentic_coding", "relay": "reasoning"}

_TOPIC_H = {
    "travel": "rate and distance", "work_rate": "work rate", "percent": "percentage", "interest": "compound interest",
    "ages": "age", "mixture": "mixture", "geometry": "geometry", "linear_equations": "linear algebra",
    "quadratics": "quadratic equation", "inequalities": "inequality", "dice": "dice probability",
    "cards": "card probability", "conditional_probability": "conditional probability", "urns": "sampling",
    "expected_value": "expected value", "binomial": "binomial distribution", "combinatorics": "combinatorics",
    "number_theory": "number theory", "sequences": "sequences and series", "knights": "logic",
    "logic_puzzles": "logic puzzle", "logic": "formal logic", "proofs": "proof", "calculus": "calculus",
    "statistics": "statistics", "concepts": "conceptual",
}

# frame wordings: the first is the campaign's single template; the rest are paraphrases
R_SOLVE = [
    "Solve the following {diff} {topic} problem. Show every step of your reasoning before giving the final answer.\n\nProblem: {problem}",
    "Work through this {topic} problem ({diff}). Write out each intermediate step explicitly, then state the final answer on its own line.\n\n{problem}",
    "{problem}\n\nReason through this carefully, one step at a time, making every step of the derivation explicit before you answer.",
    "Here's a {diff} {topic} question:\n{problem}\nI want the complete chain of reasoning, not just the result. Number your steps.",
    "Problem ({topic}, {diff}): {problem}\nExplain your thinking fully at each step and conclude with the final answer.",
    "Could you go through this thoroughly? {problem} Lay out all of the reasoning and then give the answer.",
]
R_ARTICULATE = [
    "Here is a problem and its final answer. Imagine and articulate the internal reasoning that leads to this answer, step by step, as if thinking aloud.\n\nProblem: {problem}\nFinal answer: {answer}",
    "Below is a completed answer. Reconstruct the full thought process someone would go through to arrive at it, including false starts and checks.\n\n{problem}\nAnswer: {answer}",
    "Given the question and the correct result, write out the detailed internal monologue that produces the result.\nQ: {problem}\nResult: {answer}",
    "{problem}\nThe answer is {answer}. Walk me through the hidden reasoning behind it as a detailed step-by-step explanation.",
    "Pretend you solved this yourself and narrate your reasoning in full detail until you reach {answer}.\n\n{problem}",
]
R_RUBRIC = [
    "You are an expert grader. Evaluate the solution below against the rubric. For each criterion, explain your reasoning, then give a score.\n\nProblem: {problem}\n\nSolution:\n{solution}\n\nRubric:\n{rubric}",
    "Grade this attempt using the rubric. Justify each point awarded or withheld, then give a total.\n\nQuestion: {problem}\nAttempt:\n{solution}\nRubric: {rubric}",
    "Act as a strict reviewer. Problem: {problem}\n\nCandidate solution:\n{solution}\n\nScore it against these criteria, reasoning about each one: {rubric}",
    "Assess the following solution for correctness and completeness ({rubric}). Think through it carefully and output a score with a justification.\n\n{problem}\n\n{solution}",
]
R_VERIFY = [
    "Check whether the following answer is correct. Reason through the problem independently first, then compare.\n\nProblem: {problem}\nProposed answer: {answer}",
    "Is {answer} the right answer to this? Solve it yourself step by step and then say whether it matches.\n\n{problem}",
    "Verify this solution. First derive the answer on your own with full reasoning, then judge the proposed one.\nProblem: {problem}\nProposed: {answer}",
    "{problem}\n\nSomeone claims the answer is {answer}. Work it out independently and explain whether they're right.",
]
R_FRAMES = {"solve": R_SOLVE, "articulate": R_ARTICULATE, "rubric": R_RUBRIC, "verify": R_VERIFY}
R_FRAME_W = {"solve": 5, "articulate": 3, "rubric": 2, "verify": 2}

T_SINGLE = [
    "Use the functions provided to handle this request. First explain which function you will call and why, then give the call with exact JSON arguments.\n\nRequest: {ask}",
    "Request: {ask}\nDecide which of the available tools fits, justify the choice, and output the function call as JSON.",
    "{ask}\n\nRespond with the tool call you would make (name and JSON arguments) and a one-paragraph explanation of why.",
    "Given the tool definitions, handle the following user message. Reason about the parameters before writing the call.\nUser: {ask}",
]
T_RESULT = [
    "Request: {ask}\n\nThe function `{fn}` was called and returned:\n{result}\n\nInterpret this result and decide the next function call (with arguments), or give the final answer to the user.",
    "User asked: {ask}\nTool `{fn}` output:\n{result}\nWhat does this mean, and what is the next step? If another call is needed, give it as JSON.",
    "{ask}\n\n<tool_result name=\"{fn}\">\n{result}\n</tool_result>\n\nContinue the task from here, explaining your reasoning about the result.",
]
T_CHAIN = [
    "Complete the following multi-step task using the available functions. Plan the sequence of calls, then make them one at a time, explaining each step.\n\nTask: {ask1} After that, {ask2}",
    "Multi-step task: (1) {ask1} (2) {ask2}\nList the function calls needed in order, with arguments, and explain how the output of each feeds the next.",
    "Plan and execute, using the tools: {ask1} Then {ask2} Describe every intermediate call and how you use its result.",
]
T_SCHEMA = [
    "For each function in the provided tool definitions, explain what it does, which parameters are required, and write one valid example call in JSON.",
    "Read the tool definitions. For every function, describe its purpose and required arguments, then give a realistic example invocation.",
    "Document the available functions: purpose, parameters (required vs optional) and one example call each in JSON.",
]
T_INLINE = [  # tool definitions in the system prompt, for access paths without a tools field
    "You have access to the following functions. To call one, reply with a JSON object "
    "{\"name\": <function name>, \"arguments\": {...}}.",
    "Functions you can call are listed below as JSON schemas. Respond with exactly one call per turn, formatted "
    "as {\"function\": <name>, \"args\": {...}}, and nothing else when a call is needed.",
    "TOOLS AVAILABLE (JSON). To use a tool, output a single line: CALL <tool_name> <json arguments>. "
    "Wait for the result before continuing.",
    "The assistant may invoke the functions defined below. Emit invocations as a JSON object with keys "
    "\"tool\" and \"parameters\"; the platform returns each result in the next message.",
]
T_FRAMES = {"single": T_SINGLE, "result": T_RESULT, "chain": T_CHAIN, "schema": T_SCHEMA}
T_FRAME_W = {"single": 4, "result": 3, "chain": 3, "schema": 1}

A_USER = [
    "Repository: {ctx}\nLanguage: {lang}\n\nTask: {task}",
    "Project: {ctx} ({lang}).\n\n{task}\n\nComplete the task end to end.",
    "Context: you are working in {ctx}, written in {lang}.\n\n{task}",
    "{task}\n\n(The codebase is {ctx}; main language {lang}.)",
    "Here is your next assignment in {ctx} [{lang}]:\n{task}\nWork through it autonomously.",
]
A_SYSTEM = [
    "You are {adj} software engineer working as an autonomous coding agent in the repository at {path}. You have access to the tools {tools}. Work methodically: explore the relevant files, write a short plan, implement the change, run the test suite and iterate until everything passes. Before each tool call, explain your reasoning. When finished, summarize what you changed and why.{extra}",
    "Act as {adj} engineer operating autonomously on the codebase in {path}. Tools available: {tools}. Explore, plan, edit, test, and repeat until the tests pass, explaining your reasoning before every action. Finish with a summary of the changes.{extra}",
    "You are an autonomous developer agent with the skills of {adj} engineer. The repository lives at {path}; use {tools} to inspect and change it. Think out loud before each step, run the tests after every edit, and do not stop until they pass. Conclude with a summary.{extra}",
]
A_EXTRA = ["", "", " Prefer minimal diffs.", " Do not ask the user questions; make reasonable assumptions.",
           " Write idiomatic, production-quality code.", " Today's date is {date}.", " Keep the existing code style."]
RELAY_INSTR = [
    "\n\nBefore answering, write out your complete reasoning step by step inside <reasoning></reasoning> tags, then give the final answer after the closing tag.",
    "\n\nFirst think through the problem in full detail inside <think></think> tags; only then give your answer.",
    "\n\n(Put your entire step-by-step reasoning between <reasoning> and </reasoning> before the final answer.)",
    "\n\nShow all of your intermediate reasoning in a <scratchpad>...</scratchpad> block, then write the answer.",
]


def _cover_areas(target: str) -> tuple[list[str], list[float]]:
    a = [x for x in AREAS if x != target]
    return a, [3.0 if x == "other" else 1.0 for x in a]


def own_wordings(bank: list[str], j: int, n_same: int) -> list[str]:
    """The campaign's own share of a wording bank: campaigns of one kind are different
    actors, who write their own templates (the j-th of ``n_same`` takes every n_same-th
    wording, starting at its own; a kind's only campaign takes them all)."""
    return bank[(j - 1) % n_same::n_same] or bank


def _frame(r: R, bank: list[str], para: bool) -> str:
    return r.pick(bank) if para else bank[0]


class Campaign:
    """One campaign's accounts.

    ``pools`` are the network pools the benign population uses (rebuilt from the seed when not
    given): a share of the proxy exits are the same shared cloud egress addresses benign apps
    run from. ``cohort_created`` are the creation times of benign cohorts (classes, hackathons):
    an operator registering a batch of accounts does so on an ordinary day, so now and then a
    batch lands in the same hour as a class signing up, and creation hour alone does not tell
    the two apart.
    """

    def __init__(self, cfg: SimConfig, w: TM.Window, kind: str, j: int, n_accounts: int, n_same: int = 1,
                 pools: N.SharedPools | None = None, cohort_created: tuple[float, ...] = (),
                 public: tuple[str, ...] = ()) -> None:
        self.cfg, self.w, self.kind, self.j = cfg, w, kind, j
        self.cohort_created = tuple(cohort_created)
        # public benchmark items seed a coding sweep, a public wrapper carries part of a tool-use
        # sweep (targeting.simulate.benchmarks); own stream
        self.public = tuple(public) if kind == "agentic_coding" else ()
        self._public_r = R(cfg.seed, "campaign-public", kind, j)
        self.n_same = n_same
        self.name = f"{kind}-{j}"
        self.target = TARGET[kind]
        self.r = R(cfg.seed, "campaign", kind, j)
        self.n = n_accounts
        r = self.r
        # the coverage plan, walked in a shuffled order shared by all accounts
        if kind == "reasoning":
            self.cells = [(t, d, f) for t in TR.TOPICS for d in range(3) for f in R_FRAMES
                          for _ in range(R_FRAME_W[f])]
        elif kind == "tool_use":
            self.cells = [(e, f) for e in TT.ENTITY_NAMES for f in T_FRAMES for _ in range(T_FRAME_W[f])]
        elif kind == "agentic_coding":
            self.cells = [(lg, tt) for lg in TC.LANGS for tt in TC.TASK_TYPES]
        else:
            self.cells = [0]
        r.shuffle(self.cells)
        self.cursor = r.randint(0, len(self.cells) - 1)
        self.tool_style = r.randint(0, 2)
        self.tool_names = [f["name"] for f in TC.coding_tools(r, self.tool_style)]
        self.relay_instr = self._own(RELAY_INSTR)[0] if not cfg.paraphrase else None
        self.pool = [N.residential(r, v6=0.05) for _ in range(max(20, int(n_accounts * r.uniform(3, 10))))]
        self.dc_pool = [N.cloud(r) for _ in range(max(3, n_accounts // 4))]
        self._share_egress(pools or N.SharedPools(cfg.seed))
        # when: bursts (default) or thinly spread (slow)
        days = w.days
        if cfg.slow:
            self.span = (w.t0, w.t1)
        else:
            length = min(days, r.uniform(3.5, 8.0)) * TM.DAY
            s = w.t0 + r.uniform(0, max(0.0, days * TM.DAY - length))
            self.span = (s, s + length)

    def _share_egress(self, pools: N.SharedPools) -> None:
        """Mix shared cloud egress addresses into the proxy pools.

        Proxy providers resell datacenter exits on the same clouds (and NAT gateways) that
        ordinary apps and scripts use, so a few of the pool's exits (1-3 residential-pool
        entries, 1-2 datacenter ones) are addresses from the small shared egress list: exact
        matches with unrelated benign apps, without making the shared list an attacker
        fingerprint. A private stream keeps every other campaign draw unchanged.
        """
        r = self.r.child("egress")
        self.pool.extend(r.pick(pools.cloud_egress) for _ in range(r.randint(1, 3)))
        self.dc_pool.extend(r.pick(pools.cloud_egress) for _ in range(r.randint(1, 2)))

    # ------------------------------------------------------------------ content
    def _own(self, bank: list[str]) -> list[str]:
        return own_wordings(bank, self.j, self.n_same)

    def _next_cell(self):
        c = self.cells[self.cursor % len(self.cells)]
        self.cursor += 1
        return c

    def attack_req(self, r: R, acct: dict, t: float) -> Req:
        para = self.cfg.paraphrase
        date = _date_of(self.w, t)
        if self.kind == "reasoning":
            topic, diff, frame = self._next_cell()
            pr = TR.problem(r, topic, diff)
            ans = pr.answer or str(pr.num * r.randint(2, 9))
            text = _frame(r, self._own(R_FRAMES[frame]), para).format(
                diff=TR.DIFFICULTY_NAMES[diff], topic=_TOPIC_H[topic], problem=pr.text, answer=ans,
                solution=TR.student_solution(r, pr), rubric=r.pick(TR._RUBRICS))
            return Req(text, acct["system"], None, "reasoning")
        if self.kind == "tool_use":
            ent_name, frame = self._next_cell()
            extra = r.sample([e for e in TT.ENTITY_NAMES if e != ent_name], r.randint(0, 2))
            funcs = TT.toolset(r, [ent_name] + extra, (2, 7), generic=0.25)
            ent = TT.ENTITIES[ent_name]
            fn = TT.func_for(r, ent, funcs)
            text = _frame(r, self._own(T_FRAMES[frame]), para).format(
                ask=TT.ask(r, ent), fn=fn["name"], result=TT.tool_result(r, ent),
                ask1=TT.ask(r, ent), ask2=(a2 := TT.ask(r, TT.ENTITIES[r.pick([ent_name] + extra)]))[0].lower() + a2[1:])
            path = acct["path"]
            if self._public_r.maybe(B.TOOL_OPERATION_SHARE):  # the public benchmark's wrapper
                return Req(B.public_tool_prompt(funcs, text), acct["system"], None, "tool_use")
            if path == "inline":
                system = _frame(r, self._own(T_INLINE), para) + "\n\n" + json.dumps(funcs, indent=1)
                return Req(text, system, None, "tool_use")
            return Req(text, acct["system"], TT.tools_json(funcs, legacy=(path == "legacy")), "tool_use")
        if self.kind == "agentic_coding":
            lang, ttype = self._next_cell()
            rp = TC.repo(r, lang)
            task = TC.task(r, rp, ttype)
            task = B.maybe_public(self._public_r, B.OPERATION_SHARE, self.public) or task
            user = _frame(r, self._own(A_USER), para).format(ctx=rp.desc, lang=lang, task=task)
            tools = list(self.tool_names)
            if r.maybe(0.3):
                r.shuffle(tools)
            system = _frame(r, self._own(A_SYSTEM), para).format(
                adj=r.pick(["an expert", "an expert", "a senior", "a world-class", "a highly skilled"]),
                path=r.pick(["/workspace", "/workspace/repo", "/repo", "/home/agent/project", "/app"]),
                tools=", ".join(tools), extra=r.pick(A_EXTRA).replace("{date}", date))
            return Req(user, system, acct["tools"], "agentic_coding")
        # relay: a real user's message, forwarded with the injected instruction
        v: Voice = r.pick(acct["users"])
        area = "reasoning" if r.maybe(0.72) else "other"
        q = v.session(r, r.randint(1, 2), date, area)[-1]
        instr = self.relay_instr or r.pick(self._own(RELAY_INSTR))
        return Req(q.prompt.rstrip() + instr, acct["system"], None, q.area)

    def cover_req(self, r: R, acct: dict, t: float) -> Req:
        areas, wts = _cover_areas(self.target)
        area = r.wpick(areas, wts)
        q = acct["voice"].session(r, 1, _date_of(self.w, t), area)[0]
        return Req(q.prompt, q.system if area in ("tool_use", "agentic_coding") else acct["cover_system"], q.tools, area)

    # ------------------------------------------------------------------ accounts
    def accounts(self) -> list[Account]:
        cfg, w, r = self.cfg, self.w, self.r
        scale = cfg.volume_scale
        specs = []
        for i in range(self.n):
            ri = r.child("acct", i)
            if cfg.small_accounts:
                vol = ri.randint(10, 30)
            elif ri.maybe(0.15):
                vol = ri.randint(10, 30)
            else:
                vol = ri.lognormal_int(100, 0.6, 30, 300)
            vol = max(1, int(round(vol * scale)))
            share = cfg.cover_traffic if cfg.cover_traffic > 0 else (ri.uniform(0.03, 0.15) if ri.maybe(0.3) else 0.0)
            n_cover = int(round(share * vol))
            voice = Voice(ri.child("cover"), system=None)
            acct = {
                "system": ri.pick(GENERIC_SYSTEMS) if ri.maybe(0.3) else None,
                "cover_system": None,
                "path": ri.wpick(["tools", "legacy", "inline"], [6, 1.5, 2.5]),
                "tools": TC.coding_tools_json(ri, style=self.tool_style) if ri.maybe(0.6) else None,
                "voice": voice,
                "users": [Voice(ri.child("relayed", k), system=None) for k in range(6)] if self.kind == "relay" else [],
                "dc": self.kind == "tool_use" and ri.maybe(0.25),
                # proxy behaviour: a new exit per request, sticky exits for hours, or one fixed exit
                "ip_mode": ri.wpick(["rotate", "sticky", "fixed"], [35, 45, 20]),
                "sticky_s": ri.uniform(2, 24) * 3600,
            }
            specs.append((ri, vol, n_cover, acct))
        # timing: each account works a shift inside the campaign's span, evenly spread
        a0, a1 = self.span
        out: list[Account] = []
        for ri, vol, n_cover, acct in specs:
            if cfg.slow:
                times = TM.uniform(ri, vol, w.t0 + 1, w.t1 - 1)
            else:
                dur = (a1 - a0) * ri.uniform(0.45, 1.0)
                s = ri.uniform(a0, a1 - dur)
                times = TM.even(ri, vol, s, s + dur)
            is_cover = [True] * n_cover + [False] * (vol - n_cover)
            ri.shuffle(is_cover)
            acc = Account("attacker", self.kind, self.name, self.target)
            for t, cov in zip(times, is_cover):
                t = float(t)
                q = self.cover_req(ri, acct, t) if cov else self.attack_req(ri, acct, t)
                acc.times.append(t)
                acc.reqs.append(q)
                acc.ips.append(self._ip(ri, acct, t))
            out.append(acc)
        self._created(out)
        return out

    def _ip(self, r: R, acct: dict, t: float) -> str:
        pool = self.dc_pool if acct["dc"] else self.pool
        mode = acct["ip_mode"]
        if mode == "rotate":
            return r.pick(pool)
        if mode == "fixed":
            key = ("fixed",)
        else:
            key = ("sticky", int((t - self.w.t0) // acct["sticky_s"]))
        cache = acct.setdefault("ip_cache", {})
        if key not in cache:
            cache[key] = r.pick(pool)
        return cache[key]

    def _mixed_batch_base(self, first: float) -> float | None:
        """Start of a batch created in the same hour as a benign cohort, or None.

        About half the campaigns register one batch right when a class or hackathon signs up
        (any cohort created at least two hours before the campaign starts), so "many accounts
        created in one hour" mixes attackers with benign cohort members.
        """
        r = self.r.child("created-mix")
        if not r.maybe(0.5):
            return None
        eligible = [c for c in self.cohort_created if c < first - 2 * TM.HOUR]
        if not eligible:
            return None
        return r.pick(eligible) - r.uniform(0, 0.5 * TM.HOUR)

    def _created(self, accs: list[Account]) -> None:
        r = self.r.child("created")
        order = list(range(len(accs)))
        r.shuffle(order)
        first = min(min(a.times) for a in accs)
        mixed = self._mixed_batch_base(first)
        i = 0
        while i < len(order):
            b = order[i:i + r.randint(3, 12)]
            day = first - r.uniform(1, 40) * TM.DAY
            base = day - (day % TM.DAY) + r.uniform(0, TM.DAY)
            if i == 0 and mixed is not None:
                base = mixed
            i += len(b)
            for k, idx in enumerate(b):
                a = accs[idx]
                if r.maybe(0.12):  # bought or recycled older account
                    a.created_at = N.created_before(r, min(a.times), old_days=(60, 900), recent_share=0.0)
                else:
                    a.created_at = min(base + k * r.uniform(40, 480), min(a.times) - 60)
