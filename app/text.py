"""Untrusted text made safe for Streamlit's markdown: `escape_md`.

Retrieved prompts, ideas, file names and error messages reach st.markdown / st.caption /
st.error through here, never as live markdown or HTML. It sits apart from app/widgets.py so
that app/auth.py (which widgets' state depends on) can escape text without importing the
widgets. Deliberately not here: drawing anything.
"""

from __future__ import annotations

import re
import string

_MD_SPECIAL = re.compile("([" + re.escape(string.punctuation) + "])")


def escape_md(text: object) -> str:
    """`text` made inert for st.markdown / st.caption / st.error: every ASCII punctuation mark is
    backslash-escaped (CommonMark allows it), so no link, emphasis, directive or HTML forms."""
    return _MD_SPECIAL.sub(r"\\\1", str(text)).replace("\n", " ")
