"""Reading define.xml (Define-XML 1.0, 2.0 and 2.1): datasets, variables and codelists.

A CDISC submission describes its datasets in ``define.xml`` (an ODM document): each dataset
(``ItemGroupDef``: name, label, class, structure, keys), each variable (``ItemDef``: name, label,
data type, length, display format, origin, the derivation or comment), and each codelist
(``CodeList``: coded values and their decodes). :func:`read_define` turns it into a
:class:`Define`, the codebook the curator maps from (``ipdrepo codebook``) and the trialist
sees; :meth:`Define.columns` gives a dataset's column metadata in the form deliveries store.

Versions: Define-XML 1.0 (ODM 1.2; labels in ``def:Label`` attributes, ``Origin`` and
``Comment`` attributes, keys in ``def:DomainKeys``) and 2.0/2.1 (ODM 1.3; labels in
``Description/TranslatedText``, keys as ``KeySequence`` on item references, derivations in
``MethodDef``, comments in ``def:CommentDef``, origins in ``def:Origin``; 2.1 writes the class
as a ``def:Class`` element). Namespaces are matched by local name, so a file that declares them
with other prefixes reads the same.

The file is parsed with the standard library's XML parser after refusing document type
declarations (no entities, so no entity expansion) and files over :data:`MAX_DEFINE_BYTES`.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repository.errors import UnreadableDelivery
from repository.reasons import Reason

__all__ = ["MAX_DEFINE_BYTES", "CodeList", "DefineVariable", "DefineDataset", "Define",
           "read_define", "parse_define", "looks_like_define"]

#: the largest define.xml read (the pilot's ADaM define is 0.6 MB)
MAX_DEFINE_BYTES = 64 * 2**20


@dataclass(frozen=True)
class CodeList:
    """A codelist: ``items`` are (coded value, decode or None) in rank order."""

    oid: str
    name: str
    data_type: str
    items: tuple[tuple[str, str | None], ...] = ()

    def labels(self) -> dict[str, str]:
        """Coded value -> decode (the coded value itself when there is no decode)."""
        return {code: (decode if decode else code) for code, decode in self.items}


@dataclass(frozen=True)
class DefineVariable:
    name: str
    label: str | None = None
    data_type: str | None = None
    length: int | None = None
    display_format: str | None = None
    codelist: str | None = None
    origin: str | None = None
    derivation: str | None = None
    comment: str | None = None
    mandatory: bool | None = None
    key_sequence: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class DefineDataset:
    name: str
    label: str | None = None
    klass: str | None = None
    structure: str | None = None
    repeating: bool | None = None
    purpose: str | None = None
    keys: tuple[str, ...] = ()
    file: str | None = None
    comment: str | None = None
    variables: tuple[DefineVariable, ...] = ()

    def variable(self, name: str) -> DefineVariable | None:
        for v in self.variables:
            if v.name.upper() == name.upper():
                return v
        return None


@dataclass(frozen=True)
class Define:
    """What a define.xml says (see the module docstring)."""

    version: str
    standard: str | None = None
    study: str | None = None
    datasets: tuple[DefineDataset, ...] = ()
    codelists: Mapping[str, CodeList] = field(default_factory=dict)

    def dataset(self, name: str) -> DefineDataset | None:
        for d in self.datasets:
            if d.name.upper() == name.upper():
                return d
        return None

    def columns(self, name: str) -> dict[str, dict[str, Any]]:
        """Column name (upper case) -> the metadata a delivery stores for it: ``label``,
        ``value_labels`` (codelist decodes) and ``define`` (type, length, format, codelist,
        origin, derivation, comment)."""
        ds = self.dataset(name)
        out: dict[str, dict[str, Any]] = {}
        if ds is None:
            return out
        for v in ds.variables:
            meta: dict[str, Any] = {"define": {k: val for k, val in v.to_dict().items()
                                               if k not in ("name", "label")}}
            if v.label:
                meta["label"] = v.label
            cl = self.codelists.get(v.codelist or "")
            if cl is not None and cl.items:
                meta["value_labels"] = cl.labels()
                meta["define"]["codelist"] = cl.name
            out[v.name.upper()] = meta
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "standard": self.standard, "study": self.study,
                "datasets": [{"name": d.name, "label": d.label, "class": d.klass,
                              "structure": d.structure, "keys": list(d.keys), "file": d.file}
                             for d in self.datasets]}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _attr(el: ET.Element, name: str) -> str | None:
    """An attribute by local name (``def:Label`` and ``Label`` alike)."""
    for key, value in el.attrib.items():
        if _local(key) == name:
            return value
    return None


def _children(el: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in el if _local(c.tag) == name]


def _child(el: ET.Element, name: str) -> ET.Element | None:
    found = _children(el, name)
    return found[0] if found else None


def _text(el: ET.Element | None) -> str | None:
    """The TranslatedText of a Description/Decode element (English first)."""
    if el is None:
        return None
    texts = [t for t in el.iter() if _local(t.tag) == "TranslatedText"]
    for t in texts:
        if (_attr(t, "lang") or "en").lower().startswith("en"):
            return (t.text or "").strip() or None
    return (texts[0].text or "").strip() or None if texts else None


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None and value.strip() else None
    except ValueError:
        return None


def _blank(value: str | None) -> str | None:
    return value.strip() if value and value.strip() else None


def looks_like_define(head: bytes) -> bool:
    """Whether the first bytes of a file are those of an ODM/define document."""
    text = head[:4096].decode("latin-1", errors="replace")
    return "<ODM" in text and ("cdisc.org/ns/odm" in text or "def:" in text)


def read_define(path: Path) -> Define:
    """Read a define.xml file (see the module docstring)."""
    path = Path(path)
    size = path.stat().st_size
    if size > MAX_DEFINE_BYTES:
        raise UnreadableDelivery(f"{path.name} is {size / 2**20:.0f} MB; a define.xml over "
                                 f"{MAX_DEFINE_BYTES // 2**20} MB is not read. Check that this "
                                 "is the study's define.xml.", file=str(path), reason=Reason.TOO_LARGE)
    return parse_define(path.read_bytes(), file=path.name)


def parse_define(data: bytes, *, file: str = "define.xml") -> Define:
    if re.search(rb"<!(DOCTYPE|ENTITY)", data[:65536]):
        raise UnreadableDelivery(f"{file} declares a document type or entities, which a "
                                 "define.xml never needs; it is not read (ask for the study's "
                                 "define.xml as exported).", file=file, reason=Reason.XML_ENTITIES)
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise UnreadableDelivery(f"{file} is not well-formed XML ({exc}); ask for a complete "
                                 "copy of the define.xml.", file=file, reason=Reason.DAMAGED) from exc
    if _local(root.tag) != "ODM":
        raise UnreadableDelivery(f"{file} is XML but not an ODM document (its root is "
                                 f"<{_local(root.tag)}>); a define.xml starts with <ODM>.",
                                 file=file, reason=Reason.NOT_DEFINE)
    mdv = next((e for e in root.iter() if _local(e.tag) == "MetaDataVersion"), None)
    if mdv is None:
        raise UnreadableDelivery(f"{file} has no MetaDataVersion; it is not a define.xml.",
                                 file=file, reason=Reason.NOT_DEFINE)
    version = _attr(mdv, "DefineVersion") or ("1.0.0" if any(
        "def/v1.0" in k for k in _namespaces(data)) else "2.0.0")
    study = next((e.text for e in root.iter() if _local(e.tag) == "StudyName"), None)
    methods = {_attr(m, "OID") or "": _text(_child(m, "Description"))
               for m in mdv if _local(m.tag) == "MethodDef"}
    comments = {_attr(c, "OID") or "": _text(_child(c, "Description"))
                for c in mdv if _local(c.tag) == "CommentDef"}
    leaves = {_attr(leaf, "ID") or "": _attr(leaf, "href")
              for leaf in root.iter() if _local(leaf.tag) == "leaf"}
    items = {_attr(i, "OID") or "": i for i in mdv if _local(i.tag) == "ItemDef"}
    codelists = {cl.oid: cl for cl in (_codelist(c) for c in mdv if _local(c.tag) == "CodeList")}
    datasets = tuple(_dataset(g, items, methods, comments, leaves)
                     for g in mdv if _local(g.tag) == "ItemGroupDef")
    return Define(version=version, standard=_attr(mdv, "StandardName"), study=study,
                  datasets=datasets, codelists=codelists)


def _namespaces(data: bytes) -> list[str]:
    return [m.decode("latin-1") for m in re.findall(rb'xmlns(?::\w+)?="([^"]+)"', data[:8192])]


def _codelist(el: ET.Element) -> CodeList:
    entries: list[tuple[str, str | None]] = []
    for item in el:
        kind = _local(item.tag)
        if kind in ("CodeListItem", "EnumeratedItem"):
            code = _attr(item, "CodedValue")
            if code is not None:
                entries.append((code, _text(_child(item, "Decode"))))
    return CodeList(oid=_attr(el, "OID") or "", name=_attr(el, "Name") or _attr(el, "OID") or "",
                    data_type=_attr(el, "DataType") or "text", items=tuple(entries))


def _origin(item: ET.Element) -> str | None:
    attr = _blank(_attr(item, "Origin"))
    if attr:
        return attr
    el = _child(item, "Origin")
    if el is None:
        return None
    parts = [_attr(el, "Type"), _attr(el, "Source"), _text(_child(el, "Description"))]
    return ", ".join(p for p in parts if p) or None


def _variable(ref: ET.Element, items: Mapping[str, ET.Element], methods: Mapping[str, Any],
              comments: Mapping[str, Any]) -> DefineVariable | None:
    item = items.get(_attr(ref, "ItemOID") or "")
    if item is None:
        return None
    codelist = _child(item, "CodeListRef")
    method = methods.get(_attr(ref, "MethodOID") or "")
    comment = _blank(_attr(item, "Comment")) or comments.get(_attr(item, "CommentOID") or "")
    mandatory = _attr(ref, "Mandatory")
    return DefineVariable(
        name=_attr(item, "Name") or "",
        label=_blank(_attr(item, "Label")) or _text(_child(item, "Description")),
        data_type=_attr(item, "DataType"), length=_int(_attr(item, "Length")),
        display_format=_attr(item, "DisplayFormat"),
        codelist=_attr(codelist, "CodeListOID") if codelist is not None else None,
        origin=_origin(item), derivation=method, comment=comment,
        mandatory=None if mandatory is None else mandatory.lower() == "yes",
        key_sequence=_int(_attr(ref, "KeySequence")))


def _dataset(group: ET.Element, items: Mapping[str, ET.Element], methods: Mapping[str, Any],
             comments: Mapping[str, Any], leaves: Mapping[str, str | None]) -> DefineDataset:
    variables = tuple(v for v in (_variable(r, items, methods, comments)
                                  for r in _children(group, "ItemRef")) if v is not None)
    keyed = sorted((v for v in variables if v.key_sequence is not None),
                   key=lambda v: v.key_sequence or 0)
    domain_keys = _attr(group, "DomainKeys")
    keys: Sequence[str] = [v.name for v in keyed] if keyed else \
        [k.strip() for k in (domain_keys or "").split(",") if k.strip()]
    klass = _attr(group, "Class")
    class_el = _child(group, "Class")
    if klass is None and class_el is not None:
        klass = _attr(class_el, "Name")
    leaf = _child(group, "leaf")
    href = _attr(leaf, "href") if leaf is not None else leaves.get(
        _attr(group, "ArchiveLocationID") or "")
    repeating = _attr(group, "Repeating")
    return DefineDataset(
        name=_attr(group, "Name") or _attr(group, "Domain") or "",
        label=_blank(_attr(group, "Label")) or _text(_child(group, "Description")),
        klass=klass, structure=_attr(group, "Structure"),
        repeating=None if repeating is None else repeating.lower() == "yes",
        purpose=_attr(group, "Purpose"), keys=tuple(keys), file=href,
        comment=_blank(_attr(group, "Comment")) or comments.get(_attr(group, "CommentOID") or ""),
        variables=variables)
