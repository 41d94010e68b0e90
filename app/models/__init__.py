"""Every ORM table; importing this package registers them all on Base.metadata."""

from app.models.annotation import Annotation, AnnotationStatus, Approval, ApprovalMethod
from app.models.backend import Backend, BackendKind
from app.models.base import Base
from app.models.dataset import SourceDataset, SourceRecord
from app.models.export import Export, ExportStatus
from app.models.import_job import ImportJob, ImportStatus
from app.models.instruction import Candidate, CandidateOrigin, Construction, Instruction, InstructionStatus, Split
from app.models.job import ItemStatus, Job, JobEvent, JobItem, JobStatus, StoredResponse
from app.models.project import DEFAULT_PROJECT_SETTINGS, Project
from app.models.prompt_template import PromptTemplate, PromptTemplateVersion, TemplateType
from app.models.system import WorkerPing
from app.models.tuning import GenerationJob, GenerationStatus, RunEvent, RunState, TuningRun
from app.models.user import ApiToken, Role, User

__all__ = [
    "DEFAULT_PROJECT_SETTINGS",
    "Annotation",
    "AnnotationStatus",
    "ApiToken",
    "Approval",
    "ApprovalMethod",
    "Backend",
    "BackendKind",
    "Base",
    "Candidate",
    "CandidateOrigin",
    "Construction",
    "Export",
    "ExportStatus",
    "GenerationJob",
    "GenerationStatus",
    "ImportJob",
    "ImportStatus",
    "Instruction",
    "InstructionStatus",
    "ItemStatus",
    "Job",
    "JobEvent",
    "JobItem",
    "JobStatus",
    "Project",
    "PromptTemplate",
    "PromptTemplateVersion",
    "Role",
    "RunEvent",
    "RunState",
    "SourceDataset",
    "SourceRecord",
    "Split",
    "StoredResponse",
    "TemplateType",
    "TuningRun",
    "User",
    "WorkerPing",
]
