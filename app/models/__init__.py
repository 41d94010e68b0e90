"""Every ORM table; importing this package registers them all on Base.metadata."""

from app.models.annotation import Annotation, AnnotationStatus, Approval, ApprovalMethod
from app.models.backend import Backend, BackendKind
from app.models.backend_slot import BackendSlot
from app.models.base import Base
from app.models.curation import (
    Ablation,
    AblationStatus,
    CurationScore,
    Embedding,
    LeakageFlag,
    ScoreKind,
    Subset,
    SubsetMember,
)
from app.models.dataset import SourceDataset, SourceRecord
from app.models.document import Document, Passage, PassageEmbedding
from app.models.evaluation import (
    BenchmarkTask,
    ComparisonItem,
    EvaluationAnswer,
    EvaluationSet,
    HumanComparison,
    HumanVerdict,
    VerdictStatus,
)
from app.models.export import Export, ExportStatus
from app.models.import_job import ImportJob, ImportStatus
from app.models.instruction import Candidate, CandidateOrigin, Construction, Instruction, InstructionStatus, Split
from app.models.job import ItemStatus, Job, JobEvent, JobItem, JobStatus, StoredResponse
from app.models.project import DEFAULT_PROJECT_SETTINGS, Project
from app.models.prompt_template import PromptTemplate, PromptTemplateVersion, TemplateType
from app.models.system import WorkerPing
from app.models.tuning import RunEvent, RunState, TuningRun
from app.models.user import ApiToken, Role, User

__all__ = [
    "DEFAULT_PROJECT_SETTINGS",
    "Ablation",
    "AblationStatus",
    "Annotation",
    "AnnotationStatus",
    "ApiToken",
    "Approval",
    "ApprovalMethod",
    "Backend",
    "BackendKind",
    "BackendSlot",
    "Base",
    "BenchmarkTask",
    "Candidate",
    "CandidateOrigin",
    "ComparisonItem",
    "Construction",
    "CurationScore",
    "Document",
    "Embedding",
    "EvaluationAnswer",
    "EvaluationSet",
    "Export",
    "ExportStatus",
    "HumanComparison",
    "HumanVerdict",
    "ImportJob",
    "ImportStatus",
    "Instruction",
    "InstructionStatus",
    "ItemStatus",
    "Job",
    "JobEvent",
    "JobItem",
    "JobStatus",
    "LeakageFlag",
    "Passage",
    "PassageEmbedding",
    "Project",
    "PromptTemplate",
    "PromptTemplateVersion",
    "Role",
    "RunEvent",
    "RunState",
    "ScoreKind",
    "SourceDataset",
    "SourceRecord",
    "Split",
    "StoredResponse",
    "Subset",
    "SubsetMember",
    "TemplateType",
    "TuningRun",
    "User",
    "VerdictStatus",
    "WorkerPing",
]
