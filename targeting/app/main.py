"""The app's entry: navigation, login, which workspace and which run is shown.

``app.py`` at the repository root calls ``main()``; Streamlit reruns it on every
interaction, so everything here is cheap: it reads ``state.json`` to learn the latest
committed run and leaves the rest to the cached loaders in ``data``.
"""

from __future__ import annotations

import os
import sys

import streamlit as st

from targeting.app import data
from targeting.app import widgets as ui
from targeting.errors import NoWorkspace

CONTEXT = "app_context"  # session-state key pages read the Context from
WORKSPACE = "workspace"  # session-state key that may name the workspace (tests)


def main() -> None:
    st.set_page_config(page_title="targeting · analyst app", page_icon=":material/radar:", layout="wide")
    pages = [
        st.Page(ui.page_path(name), title=title, icon=icon, url_path=name, default=(name == "overview"))
        for name, (title, icon) in ui.PAGES.items()
    ]
    nav = st.navigation(pages)
    ui.login_gate()
    root = data.resolve_root(st.session_state.get(WORKSPACE), sys.argv[1:], os.environ)
    if not root:
        st.error("No workspace given. Start the app with `targeting app --workspace DIR`.")
        st.stop()
    try:
        ctx = data.context(root)
    except NoWorkspace as exc:
        st.error(f"Cannot open the workspace: {exc}.")
        st.stop()
    st.session_state[CONTEXT] = ctx
    with st.sidebar:
        st.caption(f"Workspace `{ctx.ws.root}`")
        if ctx.run is not None:
            finished = ctx.run.finished_at.strftime("%Y-%m-%d %H:%M UTC") if ctx.run.finished_at else "?"
            st.caption(
                f"Run **{ctx.run.run_id}** ({ctx.run.kind or 'run'}), scores as of **{ctx.run.as_of}**, "
                f"committed {finished}: {ctx.run.n_accounts:,} accounts, {ctx.run.n_requests:,} requests."
            )
            st.caption("The latest completed run is shown; a newer one appears on the next click.")
    if ctx.run is None:
        st.info(
            f"The workspace `{ctx.ws.root}` has no completed run yet. Run "
            f"`targeting run LOGS --workspace {ctx.ws.root}`; this app shows the latest completed run."
        )
        st.stop()
    nav.run()


def page_context() -> data.Context:
    """The Context ``main`` resolved for this rerun (pages call this first)."""
    return st.session_state[CONTEXT]
