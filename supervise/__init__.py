"""supervise: Erlang/OTP-style supervision trees and typed actors for asyncio.

The public API is re-exported here; everything else lives in private modules.
Public submodules: `supervise.spec` (tree specs), `supervise.events` (the event
catalogue).
"""

from __future__ import annotations

from ._actor import Actor as Actor
from ._actor import Request as Request
from ._child import ChildState as ChildState
from ._dead_letters import DeadLetter as DeadLetter
from ._dead_letters import DeadLetters as DeadLetters
from ._errors import ActorExitedError as ActorExitedError
from ._errors import ActorNotRunningError as ActorNotRunningError
from ._errors import ArgumentError as ArgumentError
from ._errors import CallDroppedError as CallDroppedError
from ._errors import CallFailedError as CallFailedError
from ._errors import CallingSelfError as CallingSelfError
from ._errors import CallTimeoutError as CallTimeoutError
from ._errors import ChildError as ChildError
from ._errors import ChildErrorCode as ChildErrorCode
from ._errors import ChildKindError as ChildKindError
from ._errors import ChildNotFoundError as ChildNotFoundError
from ._errors import IsolatedActorError as IsolatedActorError
from ._errors import IsolatedProcessDiedError as IsolatedProcessDiedError
from ._errors import IsolationError as IsolationError
from ._errors import LinkedExit as LinkedExit
from ._errors import LoopBlockedError as LoopBlockedError
from ._errors import MailboxFull as MailboxFull
from ._errors import MessageTypeError as MessageTypeError
from ._errors import NameNotFoundError as NameNotFoundError
from ._errors import NameTakenError as NameTakenError
from ._errors import NodeDownError as NodeDownError
from ._errors import NotServedError as NotServedError
from ._errors import OffloadedHandlerError as OffloadedHandlerError
from ._errors import PlacementError as PlacementError
from ._errors import RemoteError as RemoteError
from ._errors import RemoteExitError as RemoteExitError
from ._errors import RestartIntensityExceeded as RestartIntensityExceeded
from ._errors import SpecError as SpecError
from ._errors import StartError as StartError
from ._errors import SuperviseError as SuperviseError
from ._errors import TaskExitedError as TaskExitedError
from ._errors import TaskTimeoutError as TaskTimeoutError
from ._errors import TreeFileError as TreeFileError
from ._errors import TreeFileProblem as TreeFileProblem
from ._errors import UnsupportedEventLoopError as UnsupportedEventLoopError
from ._errors import UsageError as UsageError
from ._errors import WireError as WireError
from ._loader import load_tree as load_tree
from ._loader import load_tree_text as load_tree_text
from ._log_setup import configure_logging as configure_logging
from ._mailbox import MailboxStatistics as MailboxStatistics
from ._metrics import MetricsOptions as MetricsOptions
from ._monitor import Down as Down
from ._monitor import Monitor as Monitor
from ._offload import offload as offload
from ._process import Exit as Exit
from ._reason import ExitKind as ExitKind
from ._reason import ExitReason as ExitReason
from ._reason import Ignore as Ignore
from ._ref import ActorRef as ActorRef
from ._ref import ActorStatistics as ActorStatistics
from ._ref import SupervisorRef as SupervisorRef
from ._registry import Registry as Registry
from ._snapshot import CrashInfo as CrashInfo
from ._snapshot import NodeSnapshot as NodeSnapshot
from ._snapshot import TreeSnapshot as TreeSnapshot
from ._supervisor import ChildCounts as ChildCounts
from ._supervisor import ChildInfo as ChildInfo
from ._supervisor import SupervisorStatistics as SupervisorStatistics
from ._task import TaskRef as TaskRef
from ._task_supervisor import AsyncTask as AsyncTask
from ._task_supervisor import TaskResult as TaskResult
from ._task_supervisor import TaskStream as TaskStream
from ._timers import TimerHandle as TimerHandle
from ._tree import Tree as Tree
from ._tree import open_tree as open_tree
from .events import Event as Event
from .spec import AutoShutdown as AutoShutdown
from .spec import Backoff as Backoff
from .spec import ChildSpec as ChildSpec
from .spec import ClusterSpec as ClusterSpec
from .spec import DynamicSupervisorSpec as DynamicSupervisorSpec
from .spec import Execution as Execution
from .spec import MailboxSpec as MailboxSpec
from .spec import OnBlock as OnBlock
from .spec import OnNodedown as OnNodedown
from .spec import Overflow as Overflow
from .spec import Placement as Placement
from .spec import Restart as Restart
from .spec import Strategy as Strategy
from .spec import SupervisorSpec as SupervisorSpec
from .spec import TaskSpec as TaskSpec

__version__ = "0.1.0.dev0"

__all__ = [
    "Actor",
    "ActorExitedError",
    "ActorNotRunningError",
    "ActorRef",
    "ActorStatistics",
    "ArgumentError",
    "AsyncTask",
    "AutoShutdown",
    "Backoff",
    "CallDroppedError",
    "CallFailedError",
    "CallTimeoutError",
    "CallingSelfError",
    "ChildCounts",
    "ChildError",
    "ChildErrorCode",
    "ChildInfo",
    "ChildKindError",
    "ChildNotFoundError",
    "ChildSpec",
    "ChildState",
    "ClusterSpec",
    "CrashInfo",
    "DeadLetter",
    "DeadLetters",
    "Down",
    "DynamicSupervisorSpec",
    "Event",
    "Execution",
    "Exit",
    "ExitKind",
    "ExitReason",
    "Ignore",
    "IsolatedActorError",
    "IsolatedProcessDiedError",
    "IsolationError",
    "LinkedExit",
    "LoopBlockedError",
    "MailboxFull",
    "MailboxSpec",
    "MailboxStatistics",
    "MessageTypeError",
    "MetricsOptions",
    "Monitor",
    "NameNotFoundError",
    "NameTakenError",
    "NodeDownError",
    "NodeSnapshot",
    "NotServedError",
    "OffloadedHandlerError",
    "OnBlock",
    "OnNodedown",
    "Overflow",
    "Placement",
    "PlacementError",
    "Registry",
    "RemoteError",
    "RemoteExitError",
    "Request",
    "Restart",
    "RestartIntensityExceeded",
    "SpecError",
    "StartError",
    "Strategy",
    "SuperviseError",
    "SupervisorRef",
    "SupervisorSpec",
    "SupervisorStatistics",
    "TaskExitedError",
    "TaskRef",
    "TaskResult",
    "TaskSpec",
    "TaskStream",
    "TaskTimeoutError",
    "TimerHandle",
    "Tree",
    "TreeFileError",
    "TreeFileProblem",
    "TreeSnapshot",
    "UnsupportedEventLoopError",
    "UsageError",
    "WireError",
    "configure_logging",
    "load_tree",
    "load_tree_text",
    "offload",
    "open_tree",
]

# Tracebacks and reprs show the public path (supervise.StartError), not the private module.
for _name in __all__:
    _obj = globals()[_name]
    if getattr(_obj, "__module__", "").startswith("supervise._"):
        try:
            _obj.__module__ = "supervise"
        except (AttributeError, TypeError):
            pass
del _name, _obj
