"""Models of the service app."""

# --- knowledge base, surveys (branch svckb) ---
from guanxi.service.models.knowledge import (  # noqa: E402,F401
    Article,
    ArticleCategory,
    ArticleKind,
    ArticleStatus,
    ArticleVersion,
    CannedReply,
)
