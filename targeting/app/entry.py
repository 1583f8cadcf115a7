"""The app's entry script inside the package, for installs without the repository's app.py."""

from targeting.app.main import main

main()
