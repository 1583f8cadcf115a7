"""Streamlit pieces several pages share: prompt lists, the verdict form, login, navigation.

Selections live in session-state keys that no widget owns (``SELECTED_*``), because
Streamlit drops a widget's state when its page is not shown: an account picked on the map
page must still be selected when the accounts page opens. Widgets are synced from those
keys before they are drawn and write back through callbacks.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

import streamlit as st

from targeting.app import charts, data
from targeting.app import views as V
from targeting.app.data import Context
from targeting.display import code_span, safe_text
from targeting.peers import typical_accounts

T = TypeVar("T")

PAGES_DIR = Path(__file__).parent / "pages"
PAGES: dict[str, tuple[str, str]] = {  # name -> (title, icon), in menu order
    "overview": ("Overview", ":material/dashboard:"),
    "map": ("Capability map", ":material/scatter_plot:"),
    "accounts": ("Accounts", ":material/person_search:"),
    "campaigns": ("Campaigns", ":material/hub:"),
    "review": ("Review", ":material/fact_check:"),
}
SELECTED_ACCOUNT = "selected_account"
SELECTED_CAMPAIGN = "selected_campaign"
SELECTED_CLUSTER = "selected_cluster"
ANALYST = "analyst_name"
FULL_TEXT = "full_prompt_text"
FLASH = "flash_message"


def page_path(name: str) -> Path:
    return PAGES_DIR / f"{name}.py"


# --- selections ----------------------------------------------------------------------------------
def selected(name: str) -> str | None:
    value = st.session_state.get(name)
    return str(value) if value else None


def select(name: str, value: str | None) -> None:
    st.session_state[name] = value


def open_page(page: str, **selection: str | None) -> None:
    """Select things (e.g. ``selected_account="acct-1"``) and go to a page."""
    for key, value in selection.items():
        select(key, value)
    st.switch_page(page_path(page))


def synced_selectbox(label: str, options: Sequence[str], state_key: str, widget_key: str,
                     format_func: Callable[[Any], str] = safe_text, placeholder: str = "Choose…") -> str | None:
    """A selectbox that shows and sets the selection kept under ``state_key`` (options shown
    through ``safe_text`` by default: an id's control and format characters appear escaped)."""
    current = selected(state_key)
    options = list(options)
    if current and current not in options:
        options = [current, *options]  # selected elsewhere (another page, a filter hiding it)
    st.session_state[widget_key] = current if current in options else None

    def changed() -> None:
        select(state_key, st.session_state.get(widget_key))

    return st.selectbox(label, options, key=widget_key, on_change=changed, format_func=format_func,
                        placeholder=placeholder)


# A table whose rows open something: a click on any cell picks its row ("single-cell"), as
# does the row-marker checkbox ("single-row"). With "single-row" alone a click on a cell
# only focuses it and nothing opens.
PICK_ROW = ("single-row", "single-cell")


def table_select_callback(table_key: str, shown_ids: Sequence[str], state_key: str) -> Callable[[], None]:
    """An ``on_select`` callback for a table drawn with ``selection_mode=PICK_ROW``: stores
    the id of the row picked (a clicked cell's row or a ticked row) under ``state_key``."""
    ids = list(shown_ids)

    def callback() -> None:
        row = picked_table_row(table_key)
        picked = V.selected_row_id([] if row is None else [row], ids)
        if picked:
            select(state_key, picked)

    return callback


def picked_table_row(table_key: str) -> int | None:
    """The row newly picked in a ``PICK_ROW`` table (``views.picked_row``), remembering the
    selection so that the next event can tell a new cell click from a new ticked row."""
    event = st.session_state.get(table_key)
    selection = dict(event["selection"]) if event is not None else {}
    memory = f"_{table_key}_selection"
    row = V.picked_row(selection, st.session_state.get(memory))
    st.session_state[memory] = selection
    return row


def guarded(load: Callable[[], T], what: str) -> T | None:
    """Run a loader; a file missing from the workspace (a deleted map, a run committing at
    this moment) becomes a message on the page instead of a traceback."""
    from targeting.workspace import QueryError

    try:
        return load()
    except (OSError, KeyError, QueryError) as exc:
        st.warning(f"{what} could not be read from the workspace ({type(exc).__name__}). "
                   "If a run is committing right now, reload in a moment.")
        return None


# --- prompts ---------------------------------------------------------------------------------------------
def full_text_toggle(where: Any = st) -> bool:
    """The page's switch between shortened prompts (default) and whole prompts."""
    return where.toggle("Show full prompt text", key=FULL_TEXT,
                        help="Prompts are sensitive: they are shortened unless you ask for the whole text.")


def prompts(texts: Sequence[str], full: bool) -> None:
    """Prompt texts as plain text blocks (never rendered as Markdown or HTML)."""
    if not texts:
        st.caption("No example prompts.")
        return
    for text in texts:
        st.code(str(text) if full else V.truncate(text), language=None, wrap_lines=True)


def evidence_items(items: Sequence[Mapping[str, Any]], full: bool) -> None:
    """Evidence entries (kind, summary, examples, detail) with their prompts."""
    for item in items:
        st.markdown(f"**{item['kind'].replace('_', ' ')}**: {escape_md(item['summary'])}")
        examples = list(item.get("examples") or [])
        detail = item.get("detail") or {}
        shared = [detail[k] for k in ("text", "head", "tail", "top") if isinstance(detail.get(k), str) and detail[k]]
        if examples or shared:
            prompts(examples or shared, full)


def escape_md(text: str) -> str:
    """Escape Markdown so text from prompts cannot format or link in a summary line."""
    out = str(text)
    for ch in "\\`*_{}[]<>()#+-!|~$":
        out = out.replace(ch, "\\" + ch)
    return out


# --- flash messages -------------------------------------------------------------------------------------
def flash(message: str) -> None:
    st.session_state[FLASH] = message


def show_flash() -> None:
    message = st.session_state.pop(FLASH, None)
    if message:
        st.success(message)


def scored_page(ctx: Context, title: str, empty: str):
    """Open a page that needs the run's scores: title, the last action's message, and a
    clear message (then stop) when the run scored no accounts. Returns the scores."""
    scores = data.current_scores(ctx)
    st.title(title)
    show_flash()
    if scores is None or scores.empty:
        st.info(empty)
        st.stop()
    return scores


# --- login and analysts ---------------------------------------------------------------------------------------
def case_file_buttons(ctx: Context, kind: str, target_id: str,
                      build: Callable[[str, bool], tuple[bytes, bytes]]) -> None:
    """Download buttons for the case file of an account or campaign: ``build(target_id,
    unredacted)`` gives its (HTML, JSON) bytes, called only when a button is clicked."""
    unredacted = st.checkbox("Quote prompts unredacted in the case file", key=f"case_unredacted_{kind}")
    stem = f"case-{kind}-{V.file_stem(target_id)}-{ctx.run.as_of}"
    make = lambda: build(target_id, unredacted)  # noqa: E731
    buttons = st.container(horizontal=True)
    buttons.download_button("Case file (HTML)", data=lambda: make()[0], file_name=f"{stem}.html", mime="text/html",
                            on_click="ignore", key=f"dl_case_html_{kind}", icon=":material/folder_shared:")
    buttons.download_button("Case file (JSON)", data=lambda: make()[1], file_name=f"{stem}.json",
                            mime="application/json", on_click="ignore", key=f"dl_case_json_{kind}",
                            icon=":material/data_object:")
    st.caption("One self-contained page (no external request) with the score, every reason and its evidence, "
               "timeline, area mix, map, linked accounts, infrastructure, example prompts and verdicts; the JSON "
               "holds the same figures.")


def login_configured() -> bool:
    """Login is on when the secrets hold an ``[auth]`` section (Streamlit's OIDC settings)."""
    try:
        return "auth" in st.secrets
    except Exception:  # noqa: BLE001 - no secrets file at all: login is off
        return False


def _provider() -> str | None:
    auth = st.secrets["auth"]
    if "client_id" in auth:
        return None  # one provider configured directly under [auth]
    named = [name for name, value in auth.items() if isinstance(value, Mapping)]
    return named[0] if named else None


def login_gate() -> dict[str, Any] | None:
    """When login is on, stop here until the user has logged in; return the user's claims."""
    if not login_configured():
        return None
    if not st.user.is_logged_in:
        st.title("Capability-extraction review")
        st.write("This workspace holds sensitive prompts. Log in to continue.")
        provider = _provider()
        st.button("Log in", type="primary", on_click=st.login, args=(provider,) if provider else ())
        st.stop()
    user = st.user.to_dict()
    with st.sidebar:
        st.caption(f"Logged in as {V.analyst_name(user, None)}")
        st.button("Log out", on_click=st.logout)
    return user


def user_claims() -> dict[str, Any] | None:
    return st.user.to_dict() if login_configured() and st.user.is_logged_in else None


# --- verdicts ------------------------------------------------------------------------------------------------------
def verdict_form(ctx: Context, kind: str, target_id: str, risk: float | None, *, key: str) -> None:
    """Record a verdict on an account or a campaign; the analyst is the logged-in user when
    login is on, otherwise the name typed here (kept for the session). No verdict is chosen
    in advance, and "confirmed" needs a note (``views.verdict_problem``)."""
    from targeting.verdicts import VERDICTS

    user = user_claims()
    with st.form(key=f"{key}_form", clear_on_submit=False, border=True):
        st.markdown(f"**Verdict on {kind} {code_span(target_id)}**" + (f" (risk now {risk:.3f})" if risk is not None else ""))
        st.radio("Verdict", VERDICTS, key=f"{key}_verdict", horizontal=True, index=None,
                 format_func=lambda v: v.replace("_", " "))
        st.text_area("Note", key=f"{key}_note", placeholder="Why: what you checked, what you found.", max_chars=4000)
        if user is None:
            st.session_state.setdefault(f"{key}_analyst", st.session_state.get(ANALYST, ""))
            st.text_input("Analyst", key=f"{key}_analyst", placeholder="your name or e-mail")
        else:
            st.caption(f"Recorded as {V.analyst_name(user, None)}")
        st.form_submit_button("Record verdict", type="primary", on_click=_save_verdict,
                              args=(ctx, kind, target_id, risk, key))
    errors = st.session_state.pop(f"{key}_error", None)
    if errors:
        st.error(errors)


def _save_verdict(ctx: Context, kind: str, target_id: str, risk: float | None, key: str) -> None:
    from targeting.verdicts import record_verdict

    analyst = V.analyst_name(user_claims(), st.session_state.get(f"{key}_analyst"))
    if analyst is None:
        st.session_state[f"{key}_error"] = "Enter your name as the analyst before recording a verdict."
        return
    verdict, note = st.session_state.get(f"{key}_verdict"), st.session_state.get(f"{key}_note", "")
    problem = V.verdict_problem(verdict, note)
    if problem:
        st.session_state[f"{key}_error"] = problem
        return
    try:
        record_verdict(ctx.ws, target_kind=kind, target_id=target_id, verdict=verdict, note=note,
                       analyst=analyst, risk_score=risk, run_id=ctx.run.run_id if ctx.run else None)
    except ValueError as exc:
        st.session_state[f"{key}_error"] = str(exc)
        return
    st.session_state[ANALYST] = analyst
    st.session_state[f"{key}_note"] = ""
    st.session_state[f"{key}_verdict"] = None  # the next verdict is chosen afresh
    flash(f"Recorded: {kind} {code_span(target_id)} {verdict.replace('_', ' ')} by {escape_md(analyst)}.")


def beside_typical(ctx: Context, scores, subject: tuple[str, ...], subject_title: str, area: str,
                   volume: float, areas: list[str]) -> None:
    """``subject``'s prompts on the map beside those of as many ordinary accounts of ``area``
    with about ``volume`` requests each (``peers.typical_accounts``): the space-filling, or
    the clumping, that the coverage and regularity scores measure, side by side."""
    background = data.map_points(ctx.key.root, ctx.key.map_id)
    if background is None:
        st.info("The workspace has no capability map, so nothing can be placed on it.")
        return
    typical = tuple(typical_accounts(scores, area, volume, k=len(subject), exclude=set(subject)))
    left, right = st.columns(2)
    for column, accounts, title in ((left, subject, subject_title),
                                    (right, typical, _typical_title(typical, area, volume))):
        with column:
            st.markdown(f"**{escape_md(title)}**")
            if not accounts:
                st.info(f"No ordinary account of {area.replace('_', ' ')} near this volume to compare with.")
                continue
            placed = guarded(lambda a=accounts: data.group_positions(ctx.key, a), "The prompt vectors")
            if placed is not None:
                st.altair_chart(charts.account_overlay(background, placed, areas=areas), width="stretch")
                st.caption(V.spread_caption(placed, area))
    st.caption(f"Coloured: the prompts (sized by requests); grey: a sample of {len(background):,} prompts "
               "of the map. An extraction sweep spreads over its area's clusters; ordinary use clumps.")


def _typical_title(typical: tuple[str, ...], area: str, volume: float) -> str:
    what = "a typical account" if len(typical) == 1 else f"{len(typical)} typical accounts"
    return f"Beside it: {what} of {area.replace('_', ' ')}, about {volume:,.0f} requests each"
