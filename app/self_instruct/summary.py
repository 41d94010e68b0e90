"""Each item of a bootstrap in a few words, for the job page's items table."""

from __future__ import annotations

from app.models import ItemStatus, JobItem


def summarize(item: JobItem) -> tuple[str, str]:
    data, out = item.input or {}, item.output or {}
    if item.stage == "prompt":
        asked = f"prompt {data.get('number')}: {len(data.get('listed', []))} tasks listed " \
                f"({data.get('from_pool', 0)} from the generated pool)"
        if item.status == ItemStatus.done:
            n = len(out.get("candidates", []))
            return asked, f"{n} candidate{'s' * (n != 1)}" + (" (cut at max_tokens)" if out.get("truncated") else "")
        return asked, str(out.get("text", ""))[:200]
    instruction = str(data.get("instruction", ""))
    if item.stage == "candidate":
        if item.status == ItemStatus.done:
            return instruction, f"accepted · highest ROUGE-L {out.get('max_similarity', 0):.2f}, " \
                                f"mean {out.get('avg_similarity_score', 0):.3f}"
        if "similar_to" in out:
            return instruction, f"{item.reason}: {out.get('score', 0):.2f} with “{str(out['similar_to'])[:120]}”"
        return instruction, f"{item.reason}: {out.get('detail', '')}"
    if item.stage == "classify":
        if "is_classification" not in out:
            return instruction, ""
        return instruction, "classification task" if out["is_classification"] else "not a classification task"
    if item.stage == "instances":
        dropped = len(out.get("dropped", []))
        if item.status == ItemStatus.done:
            return instruction, f"{out.get('kept', 0)} instances kept, {dropped} dropped"
        if item.status == ItemStatus.rejected:
            return instruction, f"no instance left ({out.get('found', 0)} found, {dropped} dropped)"
    return instruction, ""
