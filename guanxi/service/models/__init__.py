"""Models of the service app. Each area keeps its models in its own module; all are imported here for Django."""

from guanxi.service.models.assignment import AssignMethod, ServiceAgent, TicketRule
from guanxi.service.models.complaints import (
    Complaint,
    ComplaintClass,
    CrisisAlert,
    RootCause,
    Severity,
)
from guanxi.service.models.sla import CalendarDay, DayKind, SlaPolicy, WorkingCalendar
from guanxi.service.models.tickets import (
    OPEN_TICKET_STATUSES,
    PRIORITY_ORDER,
    STATUS_FLOW,
    MessageKind,
    Ticket,
    TicketAttachment,
    TicketCategory,
    TicketChannel,
    TicketMessage,
    TicketPriority,
    TicketStatus,
    TicketType,
)

__all__ = [
    "Complaint",
    "ComplaintClass",
    "CrisisAlert",
    "RootCause",
    "Severity",
    "AssignMethod",
    "ServiceAgent",
    "TicketRule",
    "OPEN_TICKET_STATUSES",
    "PRIORITY_ORDER",
    "STATUS_FLOW",
    "CalendarDay",
    "DayKind",
    "MessageKind",
    "SlaPolicy",
    "Ticket",
    "TicketAttachment",
    "TicketCategory",
    "TicketChannel",
    "TicketMessage",
    "TicketPriority",
    "TicketStatus",
    "TicketType",
    "WorkingCalendar",
]

# --- knowledge base, surveys (branch svckb) ---
from guanxi.service.models.knowledge import (  # noqa: E402,F401
    Article,
    ArticleCategory,
    ArticleKind,
    ArticleStatus,
    ArticleVersion,
    CannedReply,
)

# --- customer portal links revoked ---
from guanxi.service.models.portal import PortalRevocation  # noqa: E402,F401
from guanxi.service.models.surveys import (  # noqa: E402,F401
    InvitationSource,
    QuestionKind,
    Survey,
    SurveyAnswer,
    SurveyInvitation,
    SurveyQuestion,
    SurveyResponse,
)

# --- field visits (branch service) ---
from guanxi.service.models.visits import (  # noqa: E402,F401
    ACTIVE_VISIT_STATUSES,
    FieldVisit,
    VisitStatus,
)
