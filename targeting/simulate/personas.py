"""Benign accounts: organic users, cohorts, company roll-outs, small apps and scheduled scripts.

A ``Voice`` is how one person (or one app's user base) writes: favourite areas and topics,
writing habits, the toolset or repository they work with. Sessions are topical: a first
prompt, then follow-ups and more prompts on the same topic.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field

from . import benchmarks as B
from . import network as N
from . import paste as PA
from . import style as S
from . import text_coding as TC
from . import text_common as C
from . import text_i18n as TI
from . import text_other as TO
from . import text_reasoning as TR
from . import text_tools as TT
from . import timing as TM
from .rand import R

AREAS = ("reasoning", "tool_use", "agentic_coding", "other")


@dataclass
class Req:
    prompt: str
    system: str | None
    tools: str | None
    area: str


@dataclass
class Account:
    role: str
    kind: str
    campaign: str = ""
    target_area: str = ""
    created_at: float = 0.0
    times: list[float] = field(default_factory=list)
    reqs: list[Req] = field(default_factory=list)
    ips: list[str] = field(default_factory=list)


# how often a person pastes long material (a document, a log, code) with a prompt: most never,
# some now and then, a few nearly always; about an eighth of English prompts overall
PASTE_RATES, PASTE_WEIGHTS = (0.0, 0.1, 0.3, 0.6), (0.5, 0.25, 0.17, 0.08)

GENERIC_SYSTEMS = [
    "You are a helpful assistant.", "You are a helpful assistant.", "You are a helpful assistant.",
    "You are a helpful assistant. Answer concisely.", "You are a helpful, harmless and honest assistant.",
    "Always answer in plain English without jargon.", "Be concise.", "You are a friendly assistant.",
]


class Voice:
    """One writer's habits and subject matter."""

    def __init__(self, r: R, *, style: S.Style | None = None, areas: dict[str, float] | None = None,
                 reasoning_topics: list[str] | None = None, other_topics: list[str] | None = None,
                 tool_entities: list[str] | None = None, tools_json: str | None = None,
                 tool_funcs: list[dict] | None = None, tool_system: str | None = None,
                 repo: TC.Repo | None = None, agent_system: str | None = None,
                 agent_tools: str | None = None, system: str | None | bool = False,
                 paste: float | None = None) -> None:
        self.style = style or S.random_style(r)
        if areas is None:
            primary = r.wpick(list(AREAS), [0.3, 0.1, 0.18, 0.42])
            areas = {primary: 1.0}
            if r.maybe(0.45):
                sec = r.wpick([a for a in AREAS if a != primary], [1.0] * 3)
                areas[sec] = r.uniform(0.15, 0.5)
        self.areas = areas
        self.rtopics = reasoning_topics or list(dict.fromkeys(r.wpick(TR.TOPICS, TR.TOPIC_WEIGHTS) for _ in range(r.randint(1, 3))))
        self.otopics = other_topics or list(dict.fromkeys(r.wpick(TO.TOPICS, TO.TOPIC_WEIGHTS) for _ in range(r.randint(1, 3))))
        # tools / repository / agent product are drawn lazily from a private stream
        self._lazy = r.child("voice-lazy")
        self._tool_args = (tool_entities, tools_json, tool_funcs, tool_system)
        self._tools_ready = False
        self._repo_args = (repo, agent_system, agent_tools)
        self._repo_ready = False
        if system is False:
            u = r.random()
            system = None if u < 0.66 else r.pick(GENERIC_SYSTEMS)
        self.system = system
        # a private stream, so pasting leaves every other draw of the voice as it was
        self._paste_r = r.child("voice-paste")
        self.paste = self._paste_r.wpick(PASTE_RATES, PASTE_WEIGHTS) if paste is None else paste

    def _init_tools(self) -> None:
        if self._tools_ready:
            return
        self._tools_ready = True
        r = self._lazy.child("tools")
        tool_entities, tools_json, tool_funcs, tool_system = self._tool_args
        # a developer testing one app's fixed toolset
        self.tool_entities = tool_entities or r.sample(TT.ENTITY_NAMES, r.randint(1, 2))
        if tool_funcs is None:
            tool_funcs = TT.toolset(r, self.tool_entities)
        self.tool_funcs = tool_funcs
        self.tools_json = tools_json or TT.tools_json(tool_funcs, legacy=r.maybe(0.1))
        if tool_system is None and r.maybe(0.6):
            ent = TT.ENTITIES[self.tool_entities[0]]
            tool_system = r.pick([
                f"You are the {ent.domain} assistant for {r.pick(C.COMPANIES)}. Use the provided functions when needed.",
                f"You help users manage their {ent.plural.replace('_', ' ')}. Call functions to look things up; never guess ids.",
                "You are a helpful assistant with access to tools.",
                f"Today is {{date}}. You are an assistant for {r.pick(C.COMPANIES)}.",
            ])
        self.tool_system = tool_system
        # some people write their tool requests in a public benchmark's wrapper (own stream); a
        # product or an app with its own toolset (given to the voice) sends its tools field
        given = self._tool_args[1] is not None or self._tool_args[2] is not None
        self.tool_format = not given and self._lazy.child("tool-format").maybe(B.TOOL_USER_SHARE)

    def _init_repo(self) -> None:
        if self._repo_ready:
            return
        self._repo_ready = True
        r = self._lazy.child("repo")
        repo, agent_system, agent_tools = self._repo_args
        # coding: one repository, maybe through an agent product
        self.repo = repo or TC.repo(r)
        if agent_system is None and r.maybe(0.45):
            i = r.randint(0, len(TC.AGENT_PROMPTS) - 1)
            agent_system = TC.AGENT_PROMPTS[i].replace("{lang}", self.repo.lang)
            if agent_tools is None and r.maybe(0.55):
                agent_tools = TC.coding_tools_json(r.child("agent-tools", i), style=i % 3)
        self.agent_system = agent_system
        self.agent_tools = agent_tools

    # ------------------------------------------------------------------ composing
    def pick_area(self, r: R) -> str:
        return r.wpick(list(self.areas), list(self.areas.values()))

    def _sys(self, area: str, date: str) -> tuple[str | None, str | None]:
        if area == "tool_use":
            self._init_tools()
            s = self.tool_system.replace("{date}", date) if self.tool_system else self.system
            return s, self.tools_json
        if area == "agentic_coding":
            self._init_repo()
        if area == "agentic_coding" and self.agent_system:
            return self.agent_system, self.agent_tools
        return self.system, None

    def _lang(self, r: R) -> str:
        st = self.style
        return "en" if st.lang == "en" or r.maybe(st.english_share) else st.lang

    def session(self, r: R, size: int, date: str = "2026-11-01", area: str | None = None) -> list[Req]:
        area = area or self.pick_area(r)
        lang = self._lang(r)
        system, tools = self._sys(area, date)
        out: list[Req] = []
        if lang != "en":
            for _ in range(size):
                out.append(Req(TI.make(r, lang, area), system, tools, area))
            return out
        st = self.style
        if area == "reasoning":
            topic = r.pick(self.rtopics)
            pr = None
            for i in range(size):
                if i == 0 or r.maybe(0.35):
                    if r.maybe(0.05):
                        text, pr = TR.grading(r, TR.problem(r, topic))
                    else:
                        text, pr = TR.organic(r, topic)
                    out.append(Req(S.decorate(r, text, st), system, tools, area))
                else:
                    out.append(Req(S.decorate(r, TR.followup(r, pr), st, allow_context=False), system, tools, area))
        elif area == "other":
            topic = r.pick(self.otopics)
            for i in range(size):
                if i == 0 or r.maybe(0.4):
                    out.append(Req(S.decorate(r, TO.make(r, topic), st), system, tools, area))
                else:
                    out.append(Req(S.decorate(r, TO.followup(r), st, allow_context=False), system, tools, area))
        elif area == "tool_use":
            for i in range(size):
                if i == 0 or r.maybe(0.6):
                    text = TT.organic(r, self.tool_entities, self.tool_funcs)
                    t = tools if r.maybe(0.92) else None
                    text = S.decorate(r, text, st, allow_context=False)
                    if self.tool_format:
                        text, t = B.public_tool_prompt(self.tool_funcs, text), None
                    out.append(Req(text, system, t, area))
                else:
                    out.append(Req(S.decorate(r, TT.followup(r), st, allow_context=False), system, tools, area))
        else:  # agentic_coding
            ids = TC._ids(r, self.repo)
            for i in range(size):
                if i == 0 or r.maybe(0.45):
                    tt = "repo_task" if self.agent_system and r.maybe(0.4) else None
                    text = TC.task(r, self.repo, tt, ids if r.maybe(0.5) else None, env=0.12)
                    out.append(Req(S.decorate(r, text, st, allow_context=not self.agent_system), system, tools, area))
                else:
                    out.append(Req(S.decorate(r, TC.followup(r, self.repo), st, allow_context=False), system, tools, area))
        if self.paste > 0:
            self._add_pasted(out, area, date)
        # people re-send the same question now and then
        for i in range(1, len(out)):
            if r.maybe(0.04):
                out[i] = out[i - 1]
        return out

    def _add_pasted(self, reqs: list[Req], area: str, date: str) -> None:
        """Paste long material (a document, a log, code, a problem sheet) around some prompts."""
        pr = self._paste_r
        for i, q in enumerate(reqs):
            if pr.maybe(self.paste):
                text = PA.attach(pr, q.prompt, area, topics=self.rtopics, date=date,
                                 repo=getattr(self, "repo", None), entities=getattr(self, "tool_entities", None))
                reqs[i] = Req(text, q.system, q.tools, q.area)


def _date_of(w: TM.Window, t: float) -> str:
    return _dt.datetime.fromtimestamp(t, _dt.timezone.utc).date().isoformat()


class HumanNet:
    """One person's addresses: home (maybe changing), mobile via carrier NAT, office gateway."""

    def __init__(self, r: R, pools: N.SharedPools) -> None:
        self.home = N.residential(r, v6=0.08)
        self.home2 = N.residential(r) if r.maybe(0.25) else None
        self.mobile = r.wpick([0.0, 0.15, 0.4], [0.5, 0.35, 0.15])
        self.office = r.pick(pools.corporate) if r.maybe(0.25) else None
        self.vpn = r.pick(pools.vpn) if r.maybe(0.05) else None
        self.switch = r.random()
        self.pools = pools

    def ip(self, r: R, w: TM.Window, t: float, tz: float) -> str:
        if self.vpn and r.maybe(0.5):
            return self.vpn
        if r.maybe(self.mobile):
            return r.pick(self.pools.cgnat)
        h = ((t - w.t0) / 3600.0 + tz) % 24
        day = int((t - w.t0) // TM.DAY)
        if self.office and 8.5 <= h <= 18 and w.weekday(day) < 5:
            return self.office
        if self.home2 and (t - w.t0) / (w.t1 - w.t0) > self.switch:
            return self.home2
        return self.home


def _fill_human(acc: Account, r: R, w: TM.Window, voice: Voice, n: int, tz: float, net: HumanNet | None,
                pools: N.SharedPools, *, session_mean: float = 3.0, weekend_w: float = 0.45,
                slot_fn=None) -> None:
    sizes = TM.session_sizes(r, n, session_mean)
    times = TM.human_sessions(r, w, sizes, tz, weekend_w=weekend_w)
    for si, (size, ts) in enumerate(zip(sizes, times)):
        ip_override = None
        if slot_fn is not None:
            res = slot_fn(r, si, len(ts))
            if res is not None:
                ts, ip_override = res
        reqs = voice.session(r, size, _date_of(w, ts[0]))
        ip = ip_override or (net.ip(r, w, ts[0], tz) if net else "")
        for t, q in zip(ts, reqs):
            acc.times.append(t)
            acc.reqs.append(q)
            acc.ips.append(ip)


def organic(r: R, w: TM.Window, pools: N.SharedPools, scale: float) -> Account:
    acc = Account("benign", "organic")
    voice = Voice(r)
    n = max(1, int(round(r.lognormal_int(8, 1.15, 1, 200) * scale)))
    tz = TM.pick_tz(r, voice.style.lang)
    _fill_human(acc, r, w, voice, n, tz, HumanNet(r, pools), pools,
                session_mean=r.uniform(1.8, 4.5), weekend_w=r.uniform(0.25, 0.9))
    acc.created_at = N.created_before(r, min(acc.times))
    return acc


# ----------------------------------------------------------------------------- cohorts
_COHORT_KINDS = ["class", "class", "bootcamp", "hackathon", "rollout"]


def cohort(r: R, w: TM.Window, pools: N.SharedPools, size: int, scale: float) -> list[Account]:
    kind = r.pick(_COHORT_KINDS)
    tz = TM.pick_tz(r)
    net = N.subnet24(r, N.CAMPUS_PREFIXES if kind in ("class", "bootcamp") else N.CLOUD_PREFIXES + N.CAMPUS_PREFIXES)
    first_day = r.randint(0, max(0, w.days // 3))
    class_days = sorted(set(TM.pick_days(r, w, r.randint(2, 5), weekend_w=0.05 if kind != "hackathon" else 2.0,
                                         pool=list(range(first_day, w.days)))))
    class_hour = r.choice([9.0, 10.0, 11.0, 13.0, 14.0, 16.0, 18.0])
    created_day = w.t0 + first_day * TM.DAY - r.randint(0, 20) * TM.DAY
    created_base = created_day + (class_hour - tz) * 3600 - r.uniform(0, 2) * 3600
    shared: dict = {}
    if kind == "class":
        area = r.wpick(["reasoning", "other", "agentic_coding"], [6, 2, 2])
        shared["reasoning_topics"] = r.sample(TR.TOPICS, r.randint(1, 2))
        shared["other_topics"] = [r.pick(["writing", "knowledge", "summary", "translation"])]
        shared["repo"] = TC.repo(r, r.pick(["Python", "Java", "TypeScript"]))
    elif kind == "bootcamp":
        area = "agentic_coding"
        shared["repo"] = TC.repo(r, r.pick(["Python", "TypeScript", "Ruby"]))
    elif kind == "hackathon":
        area = r.pick(["tool_use", "agentic_coding"])
        ents = r.sample(TT.ENTITY_NAMES, 2)
        funcs = TT.toolset(r, ents, (3, 6))
        shared.update(tool_entities=ents, tool_funcs=funcs, tools_json=TT.tools_json(funcs),
                      tool_system=r.pick([None, f"You are a {TT.ENTITIES[ents[0]].domain} assistant. Use the tools provided."]),
                      repo=TC.repo(r))
    else:  # company roll-out
        area = r.wpick(["other", "agentic_coding", "tool_use"], [6, 3, 1])
        comp = r.pick(C.COMPANIES)
        shared.update(other_topics=r.sample(["email", "rewrite", "summary", "writing"], 2),
                      system=f"You are {comp}'s internal assistant. Be professional and concise.",
                      repo=TC.repo(r))
    out = []
    for i in range(size):
        ri = r.child("member", i)
        acc = Account("benign", "cohort")
        areas = {area: 1.0}
        if ri.maybe(0.3):
            areas[ri.pick([a for a in AREAS if a != area])] = 0.25
        v = Voice(ri, areas=areas, **shared)
        n = max(1, int(round(ri.lognormal_int(9, 0.8, 3, 40) * scale)))
        hn = HumanNet(ri, pools)

        def slot(rr: R, si: int, k: int, hn=hn):
            if not class_days or not rr.maybe(0.55):
                return None
            d = rr.pick(class_days)
            t = w.t0 + d * TM.DAY + (class_hour - tz) * 3600 + rr.uniform(0, 80) * 60
            ts = [t + j * rr.uniform(40, 240) for j in range(k)]
            return w.fit(ts), N.in_subnet(rr, net)

        _fill_human(acc, ri, w, v, n, tz, hn, pools, session_mean=2.5, slot_fn=slot)
        acc.created_at = min(created_base + i * ri.uniform(20, 400) + ri.uniform(0, 3600), min(acc.times) - 60)
        out.append(acc)
    return out


# ----------------------------------------------------------------------------- company roll-outs
_COMPANY_AREAS = {"agentic_coding": 0.32, "other": 0.38, "reasoning": 0.2, "tool_use": 0.1}


def _rollout_time(r: R, w: TM.Window, tz: float) -> tuple[float, list[int]]:
    """When the admin created the accounts (a morning, local time) and the working days on
    which members can be active: the window's weekdays after the roll-out (all of them when
    it was before the window; weekends too if the window has no weekday)."""
    first = 0
    if w.days >= 4 and r.maybe(0.4):
        day = r.randint(0, min(3, w.days - 3))
        first = day + 1
    else:
        day = -r.randint(1, 30)
    pool = [d for d in range(first, w.days) if w.weekday(d) < 5] or list(range(first, w.days))
    return w.t0 + day * TM.DAY + (r.uniform(8.5, 11.5) - tz) * TM.HOUR, pool


def enterprise(r: R, w: TM.Window, pools: N.SharedPools, size: int, scale: float) -> list[Account]:
    """A company roll-out: ``size`` colleagues whose accounts an admin created within one hour,
    every request leaving through the company's one gateway address (a second office's gateway
    for a few who visit it).

    Unlike a class they share nothing else: each person brings their own work (code, writing,
    a calculation) in their own voice, at office hours and low volume (most send 1-15 requests).
    Same address + same creation hour is exactly what a campaign looks like on metadata alone.
    """
    tz = TM.pick_tz(r)
    gateway = N.gateway(r)
    office2 = N.gateway(r) if r.maybe(0.5) else None
    created, day_pool = _rollout_time(r, w, tz)
    out = []
    for i in range(size):
        ri = r.child("member", i)
        acc = Account("benign", "enterprise")
        primary = ri.wpick(list(_COMPANY_AREAS), list(_COMPANY_AREAS.values()))
        areas = {primary: 1.0}
        if ri.maybe(0.35):
            areas[ri.pick([a for a in AREAS if a != primary])] = ri.uniform(0.15, 0.5)
        voice = Voice(ri, areas=areas)
        n = max(1, int(round(ri.lognormal_int(5, 0.95, 1, 150) * scale)))
        visit = ri.uniform(0.3, 0.6) if office2 and ri.maybe(0.2) else 0.0
        sizes = TM.session_sizes(ri, n, ri.uniform(1.5, 3.5))
        times = TM.human_sessions(ri, w, sizes, tz, weekend_w=0.04, owl=0.0, day_pool=day_pool, work_hours=True)
        for si, (k, ts) in enumerate(zip(sizes, times)):
            ip = office2 if si > 0 and ri.maybe(visit) else gateway
            for t, q in zip(ts, voice.session(ri, k, _date_of(w, ts[0]))):
                acc.times.append(t)
                acc.reqs.append(q)
                acc.ips.append(ip)
        acc.created_at = min(created + ri.uniform(0, 50 * 60), min(acc.times) - 60)
        out.append(acc)
    return out


# ----------------------------------------------------------------------------- small apps
SHARED_EGRESS_SHARE = 0.55  # apps and scripts on serverless platforms / provider NAT (shared exits)
_APP_NAMES = ["StudyPal", "MathMate", "QuillBot Lite", "DraftHelper", "HomeworkHero", "AskAnna", "TutorBee",
              "WriteRight", "CodeBuddy", "LinguaLeap", "Brainy", "NoteGenie", "PromptPad", "Sparky"]


def _wrapper(r: R, app: str) -> tuple[str, str | None, dict[str, float]]:
    """(user-message template with {q}, system prompt or None, content areas)."""
    k = r.randint(0, 8)
    if k == 8:
        return (r.pick(["{q}\n\nBefore answering, think through the problem inside <thinking> tags and put the final answer after the closing tag.",
                        "{q}\n\nWrite your reasoning inside <reasoning></reasoning> tags first, then the answer."]),
                None, {"reasoning": 1.0, "other": 0.5})
    if k == 0:
        return ("Think step by step inside <thinking></thinking> tags, then give the final answer after \"Answer:\".\n\nQuestion: {q}",
                None, {"reasoning": 1.0, "other": 0.2})
    if k == 1:
        return ("You are " + app + ", a friendly tutor. Explain the solution step by step so a student can follow.\n\nStudent question: {q}",
                None, {"reasoning": 1.0})
    if k == 2:
        return ("{q}", "You are " + app + ".\nCurrent date: {date}\nUser: {user} (plan: {plan})\nAnswer helpfully.",
                {"other": 1.0, "reasoning": 0.3})
    if k == 3:
        return ("Improve the following text or answer the request. Return only the result.\n\n{q}", None, {"other": 1.0})
    if k == 4:
        return ("<user_query>\n{q}\n</user_query>\nReason carefully and show your work before answering.",
                "You are a careful assistant.", {"reasoning": 1.0, "other": 0.4})
    if k == 5:
        return ("Respond in JSON with keys \"answer\" and \"confidence\".\nQuestion: {q}", None,
                {"other": 1.0, "reasoning": 0.5})
    if k == 6:
        return ("{q}\n\n(Answer in under 100 words.)", "You are " + app + ", a coding helper. Date: {date}.",
                {"agentic_coding": 1.0})
    return ("[{app}] User {user} asks: {q}".replace("{app}", app), None, {"other": 1.0, "tool_use": 0.0, "reasoning": 0.4})


def app_wrapper(r: R, w: TM.Window, pools: N.SharedPools, scale: float) -> Account:
    acc = Account("benign", "app_wrapper")
    app = r.pick(_APP_NAMES)
    tmpl, sysw, areas = _wrapper(r, app)
    areas = {a: v for a, v in areas.items() if v > 0}
    n = max(1, int(round(r.lognormal_int(110, 0.7, 40, 500) * scale)))
    tz = TM.pick_tz(r)
    times = TM.diurnal(r, n, w, tz, r.uniform(0.2, 0.7))
    # a population of end users, each with their own voice
    users = [Voice(r.child("user", i), areas=areas, system=None) for i in range(max(3, n // 6))]
    unames = [f"{C.first(r).lower()}{r.randint(1, 999)}" for _ in users]
    # on a serverless platform the app's exits are the platform's shared egress addresses
    shared = r.child("egress").maybe(SHARED_EGRESS_SHARE)
    ips = [N.cloud_exit(r, pools, shared) for _ in range(r.randint(2, 5))]
    change_every = r.uniform(0.7, 3.0) * TM.DAY
    i = 0
    while len(acc.reqs) < n:
        u = r.randint(0, len(users) - 1)
        sess = users[u].session(r, min(r.randint(1, 4), n - len(acc.reqs)), _date_of(w, float(times[len(acc.reqs)])))
        for q in sess:
            t = float(times[len(acc.reqs)])
            prompt = tmpl.replace("{q}", q.prompt).replace("{user}", unames[u])
            system = None
            if sysw:
                system = sysw.replace("{date}", _date_of(w, t)).replace("{user}", unames[u]).replace(
                    "{plan}", ["free", "pro", "pro", "team"][u % 4])
            acc.reqs.append(Req(prompt, system, None, q.area))
            acc.times.append(t)
            epoch = int((t - w.t0) // change_every)
            if epoch >= len(ips) - 1 or r.maybe(0.02):
                ips.append(N.cloud_exit(r, pools, shared))
            acc.ips.append(ips[min(epoch, len(ips) - 1)] if r.maybe(0.8) else r.pick(ips))
        i += 1
    acc.created_at = N.created_before(r, min(acc.times), old_days=(20, 900), recent_share=0.1)
    return acc


# ----------------------------------------------------------------------------- scripts
_TICKETS = [
    "I was charged twice for my subscription this month.", "The app crashes when I upload a photo.",
    "How do I change the email on my account?", "It would be great if you supported dark mode.",
    "I can't reset my password, the link expired.", "Your invoice shows the wrong VAT number.",
    "Export to CSV is missing the date column.", "Please delete my account and all my data.",
    "The dashboard has been loading forever since this morning.", "Can I get a refund for the unused months?",
]


def _script_job(r: R) -> tuple[str, callable]:
    k = r.wpick([0, 1, 2, 3, 4, 5], [5, 5, 2, 2, 2, 1])
    comp = r.pick(C.COMPANIES)
    regions = r.sample(["North", "South", "East", "West", "Online", "EMEA", "APAC", "LATAM"], r.randint(3, 5))

    if k == 0:
        def make(rr: R, date: str, i: int) -> Req:
            rows = "\n".join(f"{g},{rr.randint(1000, 90000)},{rr.randint(10, 900)},{rr.uniform(-9, 15):.1f}%" for g in regions)
            return Req(f"Summarize the daily sales report for {comp} on {date} in 3 bullet points for the leadership channel.\n\nregion,revenue,orders,change\n{rows}",
                       None, None, "other")
        return "report", make
    if k == 1:
        labels = "billing, bug, account, feature_request, other"

        def make(rr: R, date: str, i: int) -> Req:
            return Req(f"Classify the following support ticket into one of: {labels}. Reply with the label only.\n\nTicket #{rr.randint(10000, 99999)}: {rr.pick(_TICKETS)}",
                       "You are a ticket triage system.", None, "other")
        return "triage", make
    if k == 2:
        def make(rr: R, date: str, i: int) -> Req:
            return Req(f"Rate the sentiment of this review from 1 (very negative) to 5 (very positive). Output just the number.\n\nReview: {TO.paragraph(rr, 'review', (2, 4))}",
                       None, None, "other")
        return "sentiment", make
    if k == 3:
        rp = TC.repo(r)

        def make(rr: R, date: str, i: int) -> Req:
            ids = TC._ids(rr, rp)
            return Req(f"Nightly build {date}: summarize the failures below for the team channel and guess the likely cause.\n\n{TC.test_output(rr, rp, ids)}",
                       None, None, "agentic_coding")
        return "nightly", make
    if k == 4:
        ent = TT.ENTITIES[r.pick(["invoice", "order", "expense", "ticket"])]
        funcs = [TT.make_function(r, ent, "create")]
        tj = TT.tools_json(funcs)

        def make(rr: R, date: str, i: int) -> Req:
            return Req(f"Extract the {ent.name} details from this email and call {funcs[0]['name']}.\n\nFrom: {C.email_of(rr)}\nDate: {date}\n\n{TO.paragraph(rr, 'report', (2, 3))} Amount: {C.money(rr, 20, 9000)}. Reference {TT.fake(rr, ent.id.kind, ent.id)}.",
                       None, tj, "tool_use")
        return "extract", make

    def make(rr: R, date: str, i: int) -> Req:
        pr = TR.problem(rr)
        return Req(f"Puzzle of the day for {date}. Write a short, friendly solution for our newsletter readers:\n\n{pr.text}",
                   None, None, "reasoning")
    return "puzzle", make


def scheduled_script(r: R, w: TM.Window, pools: N.SharedPools, scale: float) -> Account:
    acc = Account("benign", "scheduled_script")
    _, make = _script_job(r)
    interval_h = r.wpick([24.0, 12.0, 6.0, 4.0, 1.0], [5, 2, 2, 1, 1])
    interval = interval_h * 3600 / scale
    per_run = r.wpick([1, 1, 2, 3, 5], [6, 2, 1, 1, 1])
    offset = r.uniform(0, interval)
    shared = r.child("egress").maybe(SHARED_EGRESS_SHARE)
    ip = N.cloud_exit(r, pools, shared)
    ip2 = N.cloud_exit(r, pools, shared) if r.maybe(0.3) else ip
    t = w.t0 + offset
    run = 0
    while t < w.t1 - 1:
        date = _date_of(w, t)
        k = per_run if per_run == 1 else r.randint(1, per_run)
        for j in range(k):
            tt = t + r.uniform(0.2, 4.0) + j * r.uniform(1.0, 6.0)
            if tt >= w.t1 - 1 or r.maybe(0.01):
                continue
            acc.times.append(tt)
            acc.reqs.append(make(r, date, run))
            acc.ips.append(ip if (tt - w.t0) < (w.t1 - w.t0) / 2 else ip2)
        run += 1
        t = w.t0 + offset + run * interval
    if not acc.times:
        acc.times.append(w.t0 + offset)
        acc.reqs.append(make(r, _date_of(w, w.t0), 0))
        acc.ips.append(ip)
    acc.created_at = N.created_before(r, min(acc.times), old_days=(10, 900), recent_share=0.1)
    return acc
