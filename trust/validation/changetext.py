"""Modifications as people read them, in Chinese and English.

A list of modifications is told per incremental update (revision N of the file is its
N-th update), page changes first; page changes are never left out, other items after
the first :data:`SHOWN` are counted ("and 3 more"), so a changed page can never hide
behind a count.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby

from .evidence import Modification

__all__ = ["SHOWN", "describe", "tell"]

SHOWN = 8
_PAGE_KINDS = frozenset({"page-content", "page-resource", "page-changed", "page-added",
                         "page-removed"})
_FIELD_TYPES = {"Sig": ("签名", "signature"), "Tx": ("文本", "text"),
                "Btn": ("按钮", "button"), "Ch": ("选择", "choice"),
                "DocTimeStamp": ("文档时间戳", "document time-stamp")}


def _objects(item: Modification) -> str:
    return f" ({', '.join(item.objects)})" if item.objects else ""


def _page(item: Modification) -> tuple[str, str]:
    return (f"第 {item.page} 页", f" on page {item.page}") if item.page else ("", "")


def _field(item: Modification) -> tuple[str, str]:
    zh, en = _FIELD_TYPES.get(item.field_type or "", ("表单", "form"))
    return f"{zh}域“{item.name or ''}”", f"{en} field {item.name!r}"


def _visible(item: Modification) -> tuple[str, str]:
    if item.visible is None:
        return "", ""
    where = ""
    if item.rect is not None:
        where = ", rect [" + " ".join(f"{value:g}" for value in item.rect) + "]"
    return ("（可见）" if item.visible else "（不可见）",
            f" ({'visible' if item.visible else 'invisible'}{where})")


def describe(item: Modification) -> tuple[str, str]:
    """One modification in Chinese and English."""
    page_zh, page_en = _page(item)
    objects = _objects(item)
    field_zh, field_en = _field(item)
    seen_zh, seen_en = _visible(item)
    kind = item.kind
    if kind == "page-content":
        return (f"第 {item.page} 页内容流被修改{objects}",
                f"page {item.page} content changed{objects}")
    if kind == "page-resource":
        return (f"第 {item.page} 页引用的{item.detail}被修改{objects}",
                f"page {item.page}: {item.detail} changed{objects}")
    if kind == "page-changed":
        if item.page is None:
            return f"页面结构被修改（{item.detail}）", f"the page tree changed ({item.detail})"
        return (f"第 {item.page} 页被重新定义（{item.detail}）",
                f"page {item.page} redefined ({item.detail})")
    if kind == "page-added":
        return f"新增页面（第 {item.page} 页）", f"a page was added (page {item.page})"
    if kind == "page-removed":
        return f"第 {item.page} 页被删除", f"page {item.page} was removed"
    if kind == "field-added":
        state_zh = "已签名的" if item.filled and item.field_type == "Sig" else (
            "已填写的" if item.filled else "空")
        state_en = "a signed " if item.filled and item.field_type == "Sig" else (
            "a filled " if item.filled else "an empty ")
        return (f"{page_zh}新增{state_zh}{field_zh}{seen_zh}",
                f"{state_en}{field_en} added{page_en}{seen_en}")
    if kind == "document-timestamp":
        return f"追加文档时间戳“{item.name}”", f"a document time-stamp {item.name!r} added"
    if kind == "signature":
        return (f"{page_zh}签名域“{item.name}”被签署",
                f"signature field {item.name!r}{page_en} signed")
    if kind in ("field-filled", "field-changed", "field-removed"):
        verb_zh, verb_en = {"field-filled": ("被填写", "filled"),
                            "field-changed": ("被修改", "changed"),
                            "field-removed": ("被删除", "removed")}[kind]
        detail_zh, detail_en = (f"（{item.detail}）", f" ({item.detail})") if item.detail \
            else ("", "")
        return (f"{page_zh}{field_zh}{verb_zh}{detail_zh}",
                f"{field_en}{page_en} {verb_en}{detail_en}")
    if kind == "form":
        return f"表单设置 {item.name} 被修改", f"form entry {item.name} changed"
    if kind == "widget-added":
        return (f"{page_zh}新增不属于任何表单域的控件批注{seen_zh}",
                f"a widget annotation with no field added{page_en}{seen_en}")
    if kind.startswith("annotation-"):
        verb_zh, verb_en = {"annotation-added": ("新增", "added"),
                            "annotation-changed": ("修改", "changed"),
                            "annotation-removed": ("删除", "removed")}[kind]
        subtype = item.field_type or ""
        return (f"{page_zh}{verb_zh} {subtype} 批注{seen_zh}{objects}",
                f"{subtype} annotation{page_en} {verb_en}{seen_en}{objects}")
    if kind == "action":
        where_zh = f"{item.detail}" if item.detail else ""
        return (f"{page_zh}{where_zh}添加或修改了动作 {item.name}"
                "（可执行脚本、打开文件或提交数据）",
                f"an action {item.name} added or changed{page_en}"
                f"{f' ({item.detail})' if item.detail else ''}")
    if kind == "catalog":
        return (f"文档目录项 {item.name} 被{_verb_zh(item.detail)}",
                f"document catalog entry {item.name} {item.detail or 'changed'}")
    if kind == "validation-data":
        return "追加验证数据（DSS）", "validation data (DSS) added"
    if kind == "metadata":
        return (f"文档元数据被修改（{item.name}{'：' + item.detail if item.detail else ''}）",
                f"document metadata changed ({item.name}"
                f"{': ' + item.detail if item.detail else ''})")
    objects_zh, objects_en = {
        "object-added": (f"新增未被引用的对象（{item.detail}）",
                         f"an unreferenced {item.detail} added"),
        "object-deleted": ("删除对象", "object freed"),
        "object-changed": (f"{item.detail}被修改", f"{item.detail} changed"),
    }.get(kind, ("", ""))
    if objects_en:
        return objects_zh + objects, objects_en + objects
    return f"无法分析的改动（{item.detail}）", f"changes that cannot be analysed ({item.detail})"


def _verb_zh(detail: str | None) -> str:
    return {"added": "添加", "removed": "删除"}.get(detail or "", "修改")


def tell(items: Sequence[Modification]) -> tuple[str, str]:
    """A list of modifications per revision, page changes first, never hiding one."""
    if not items:
        return "", ""
    shown_zh: list[str] = []
    shown_en: list[str] = []
    told = others = 0
    for revision, group in groupby(sorted(items, key=lambda item: (
            item.revision, item.kind not in _PAGE_KINDS)), key=lambda item: item.revision):
        parts_zh: list[str] = []
        parts_en: list[str] = []
        for item in group:
            if item.kind not in _PAGE_KINDS:
                if told >= SHOWN:
                    others += 1
                    continue
                told += 1
            zh, en = describe(item)
            parts_zh.append(zh)
            parts_en.append(en)
        if parts_en:
            shown_zh.append(f"第 {revision} 次增量更新：" + "；".join(parts_zh))
            shown_en.append(f"update {revision}: " + "; ".join(parts_en))
    more_zh = f"；另有 {others} 处" if others else ""
    more_en = f"; and {others} more" if others else ""
    return "。".join(shown_zh) + more_zh, " | ".join(shown_en) + more_en
