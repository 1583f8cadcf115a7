"""The analyst app's entry script: `targeting app --workspace DIR` runs it with Streamlit.

Kept to one call so the app is importable and testable as the `targeting.app` package.
"""

from targeting.app.main import main

main()
