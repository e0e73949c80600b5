"""The HTTP API, the web pages and the ``zhengyin`` command line.

This layer parses, authorises and maps results; business rules live in the layers below.
"""
