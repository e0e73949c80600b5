"""Zhengyin (证印): the one import name the distribution installs.

The layers keep their folders at the top of the repository (``core``, ``keys``, ``trust``,
``signing``, ``registry``, ``api``); ``pyproject.toml`` maps each into this package
(setuptools ``package-dir``), so an installed or editable Zhengyin is imported as
``zhengyin.trust`` and never from a same-named folder in the working directory. The
symbolic links beside this file let tools that read the tree (mypy, ruff's isort) see the
same names.
"""
