"""Fill-in-the-middle: strings in, prompt pieces out, and model text back to suggestions.

Imports neither torch nor pygls: everything here is plain text logic.
"""
