"""The completion service: requests in order on one worker thread, a prompt planned per
request, a backend's stream read until the finisher is done, and computing ahead."""

from .requests import Completion, CompletionRequest, Ticket
from .service import CompletionService

__all__ = ["Completion", "CompletionRequest", "CompletionService", "Ticket"]
