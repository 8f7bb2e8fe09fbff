"""Session-wide test settings shared by every test package."""

from __future__ import annotations

import os

# Tests never reach the Hugging Face hub: set before `datasets`/`huggingface_hub` are
# imported anywhere (both read these variables at import time).
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
