"""The analyst app: a Streamlit front end over one workspace's latest committed run.

Layout: ``main`` builds the navigation and says which run is shown; ``pages/`` holds one
thin Streamlit script per page; ``data`` is the only place the app reads the workspace
(cached per run, read-only); ``views`` holds every decision about what an analyst sees as
pure functions of data frames (unit-tested without Streamlit); ``widgets`` holds the few
Streamlit pieces several pages share (prompt lists, the verdict form, the login gate).

Start it with ``targeting app --workspace DIR``; the repository's ``app.py`` is the entry
script Streamlit runs.
"""
