"""Domains, activity and workflow types, and domain tags (the "registration" operations).

Why separate: these are small, rarely called and independent of execution
state; they are held in memory (a handful of rows) and written through.

A domain's ARN names the region the request was signed for (its SigV4
credential scope; ``us-east-1`` when unsigned) and the account 000000000000:
one endpoint answers for every region, and an ARN is accepted only from a
request for the region it names, as a regional service would.
"""

from __future__ import annotations

from swfd.local.faults import SWFFault
from swfd.local.paging import TEXT, page
from swfd.local.state import MAX_TAGS, compact, seconds

DEFAULT_REGION = "us-east-1"
ACCOUNT_ID = "000000000000"
# SWF quotas: registered + deprecated domains per account and region; types per domain.
MAX_DOMAINS = 100
MAX_TYPES_PER_DOMAIN = 10_000

_ACTIVITY_DEFAULTS = (
    "defaultTaskStartToCloseTimeout", "defaultTaskHeartbeatTimeout", "defaultTaskList",
    "defaultTaskPriority", "defaultTaskScheduleToStartTimeout",
    "defaultTaskScheduleToCloseTimeout",
)
_WORKFLOW_DEFAULTS = (
    "defaultTaskStartToCloseTimeout", "defaultExecutionStartToCloseTimeout", "defaultTaskList",
    "defaultTaskPriority", "defaultChildPolicy", "defaultLambdaRole",
)
_KIND_KEY = {"activity": "activityType", "workflow": "workflowType"}
_KIND_LABEL = {"activity": "ActivityType", "workflow": "WorkflowType"}


def _type_label(kind: str, ref: dict) -> str:
    """SWF's name for a type in its messages: ``ActivityType=[name=A, version=1]``."""
    return f"{_KIND_LABEL[kind]}=[name={ref['name']}, version={ref['version']}]"


class RegistryOps:
    """Mixin of :class:`~swfd.local.engine.Engine`."""

    # -- domains --------------------------------------------------------------------

    def domain(self, name: str, registered: bool = True) -> dict:
        """The domain ``name``; UnknownResourceFault if missing (or deprecated, if asked)."""
        dom = self.domains.get(name)
        if dom is None:
            raise SWFFault("UnknownResourceFault", f"Unknown domain: {name}")
        if registered and dom["status"] != "REGISTERED":
            raise SWFFault("UnknownResourceFault", f"Domain is deprecated: {name}")
        return dom

    def op_RegisterDomain(self, p: dict) -> dict:
        name = p["name"]
        if name in self.domains:
            raise SWFFault("DomainAlreadyExistsFault", f"Domain already exists: {name}")
        if len(self.domains) >= MAX_DOMAINS:
            raise SWFFault("LimitExceededFault", f"Domain limit exceeded: {MAX_DOMAINS}")
        tags = p.get("tags") or []
        if len(tags) > MAX_TAGS:
            raise SWFFault("TooManyTagsFault", f"Too many tags: at most {MAX_TAGS}")
        retention = p["workflowExecutionRetentionPeriodInDays"]
        dom = compact({
            "name": name, "status": "REGISTERED", "description": p.get("description"),
            "retention": retention, "tags": [compact(t) for t in tags], "created": self.now(),
        })
        self.domains[name] = dom
        self.store.save_domain(dom)
        return {}

    def op_DescribeDomain(self, p: dict) -> dict:
        dom = self.domain(p["name"], registered=False)
        return {
            "domainInfo": self._domain_info(dom),
            "configuration": {"workflowExecutionRetentionPeriodInDays": dom["retention"]},
        }

    def _domain_info(self, dom: dict) -> dict:
        return compact({
            "name": dom["name"], "status": dom["status"], "description": dom.get("description"),
            "arn": self._arn_prefix() + dom["name"],
        })

    def op_ListDomains(self, p: dict) -> dict:
        reverse = bool(p.get("reverseOrder"))
        doms = sorted(
            (d for d in self.domains.values() if d["status"] == p["registrationStatus"]),
            key=lambda d: d["name"], reverse=reverse,
        )
        items, token = page(doms, p, "ListDomains", lambda d: (d["name"],), reverse,
                            (TEXT,))
        return compact({"domainInfos": [self._domain_info(d) for d in items],
                        "nextPageToken": token})

    def op_DeprecateDomain(self, p: dict) -> dict:
        dom = self.domain(p["name"], registered=False)
        if dom["status"] == "DEPRECATED":
            raise SWFFault("DomainDeprecatedFault", f"Domain already deprecated: {p['name']}")
        dom["status"] = "DEPRECATED"
        self.store.save_domain(dom)
        # API reference: "Deprecating a domain also deprecates all activity and workflow
        # types registered in the domain." Undeprecating it leaves them deprecated.
        for key, typ in self.types.items():
            if key[0] == p["name"] and typ["status"] == "REGISTERED":
                typ["status"] = "DEPRECATED"
                typ["deprecationDate"] = self.now()
                self.store.save_type(key, typ)
        return {}

    def op_UndeprecateDomain(self, p: dict) -> dict:
        dom = self.domain(p["name"], registered=False)
        if dom["status"] == "REGISTERED":
            raise SWFFault("DomainAlreadyExistsFault", f"Domain already exists: {p['name']}")
        dom["status"] = "REGISTERED"
        self.store.save_domain(dom)
        return {}

    def retention_seconds(self, dom: dict) -> float:
        days = seconds(dom["retention"])
        return 0.0 if days is None else days * 86400.0

    # -- tags -----------------------------------------------------------------------

    def _arn_prefix(self) -> str:
        region = self.region
        partition = ("aws-cn" if region.startswith("cn-") else
                     "aws-us-gov" if region.startswith("us-gov-") else "aws")
        return f"arn:{partition}:swf:{region}:{ACCOUNT_ID}:/domain/"

    def _domain_by_arn(self, arn: str) -> dict:
        prefix = self._arn_prefix()
        if not arn.startswith(prefix) or arn[len(prefix):] not in self.domains:
            raise SWFFault("UnknownResourceFault", f"Unknown resource: {arn}")
        return self.domain(arn[len(prefix):], registered=False)

    def op_ListTagsForResource(self, p: dict) -> dict:
        return {"tags": list(self._domain_by_arn(p["resourceArn"]).get("tags", []))}

    def op_TagResource(self, p: dict) -> dict:
        dom = self._domain_by_arn(p["resourceArn"])
        tags = {t["key"]: t for t in dom.get("tags", [])}
        for tag in p["tags"]:
            tags[tag["key"]] = compact(tag)
        if len(tags) > MAX_TAGS:
            raise SWFFault("TooManyTagsFault", f"Too many tags: at most {MAX_TAGS}")
        dom["tags"] = list(tags.values())
        self.store.save_domain(dom)
        return {}

    def op_UntagResource(self, p: dict) -> dict:
        dom = self._domain_by_arn(p["resourceArn"])
        drop = set(p["tagKeys"])
        dom["tags"] = [t for t in dom.get("tags", []) if t["key"] not in drop]
        self.store.save_domain(dom)
        return {}

    # -- types ----------------------------------------------------------------------

    def type_of(self, kind: str, domain: str, ref: dict) -> dict | None:
        return self.types.get((domain, kind, ref["name"], ref["version"]))

    def _type_or_fault(self, kind: str, domain: str, ref: dict) -> dict:
        self.domain(domain, registered=False)
        typ = self.type_of(kind, domain, ref)
        if typ is None:
            raise SWFFault(
                "UnknownResourceFault",
                f"Unknown type: {_type_label(kind, ref)}",
            )
        return typ

    def _register_type(self, kind: str, p: dict, defaults: tuple) -> dict:
        self.domain(p["domain"])
        key = (p["domain"], kind, p["name"], p["version"])
        if key in self.types:
            raise SWFFault("TypeAlreadyExistsFault", _type_label(kind, p))
        if sum(1 for k in self.types if k[0] == p["domain"]) >= MAX_TYPES_PER_DOMAIN:
            raise SWFFault("LimitExceededFault", f"Type limit exceeded: {MAX_TYPES_PER_DOMAIN}")
        body = {
            "name": p["name"], "version": p["version"], "status": "REGISTERED",
            "description": p.get("description"), "creationDate": self.now(),
            "configuration": compact({k: p.get(k) for k in defaults}),
        }
        self.types[key] = body
        self.store.save_type(key, body)
        return {}

    def _type_info(self, kind: str, typ: dict) -> dict:
        return compact({
            _KIND_KEY[kind]: {"name": typ["name"], "version": typ["version"]},
            "status": typ["status"], "description": typ.get("description"),
            "creationDate": typ["creationDate"], "deprecationDate": typ.get("deprecationDate"),
        })

    def _describe_type(self, kind: str, p: dict) -> dict:
        typ = self._type_or_fault(kind, p["domain"], p[_KIND_KEY[kind]])
        return {"typeInfo": self._type_info(kind, typ), "configuration": typ["configuration"]}

    def _list_types(self, kind: str, p: dict, operation: str) -> dict:
        self.domain(p["domain"], registered=False)
        found = [
            t for (d, k, _, _), t in self.types.items()
            if d == p["domain"] and k == kind and t["status"] == p["registrationStatus"]
            and (not p.get("name") or t["name"] == p["name"])
        ]
        reverse = bool(p.get("reverseOrder"))
        found.sort(key=lambda t: (t["name"], t["version"]), reverse=reverse)
        items, token = page(found, p, operation, lambda t: (t["name"], t["version"]), reverse,
                            (TEXT, TEXT))
        return compact({"typeInfos": [self._type_info(kind, t) for t in items],
                        "nextPageToken": token})

    def _set_type_status(self, kind: str, p: dict, deprecate: bool) -> dict:
        ref = p[_KIND_KEY[kind]]
        typ = self._type_or_fault(kind, p["domain"], ref)
        label = _type_label(kind, ref)
        if deprecate and typ["status"] == "DEPRECATED":
            raise SWFFault("TypeDeprecatedFault", label)
        if not deprecate and typ["status"] == "REGISTERED":
            raise SWFFault("TypeAlreadyExistsFault", label)
        typ["status"] = "DEPRECATED" if deprecate else "REGISTERED"
        if deprecate:
            typ["deprecationDate"] = self.now()
        else:
            typ.pop("deprecationDate", None)
        self.store.save_type((p["domain"], kind, ref["name"], ref["version"]), typ)
        return {}

    def _delete_type(self, kind: str, p: dict) -> dict:
        ref = p[_KIND_KEY[kind]]
        typ = self._type_or_fault(kind, p["domain"], ref)
        if typ["status"] != "DEPRECATED":
            raise SWFFault("TypeNotDeprecatedFault", _type_label(kind, ref))
        key = (p["domain"], kind, ref["name"], ref["version"])
        del self.types[key]
        self.store.delete_type(key)
        return {}

    def op_RegisterActivityType(self, p: dict) -> dict:
        return self._register_type("activity", p, _ACTIVITY_DEFAULTS)

    def op_RegisterWorkflowType(self, p: dict) -> dict:
        return self._register_type("workflow", p, _WORKFLOW_DEFAULTS)

    def op_DescribeActivityType(self, p: dict) -> dict:
        return self._describe_type("activity", p)

    def op_DescribeWorkflowType(self, p: dict) -> dict:
        return self._describe_type("workflow", p)

    def op_ListActivityTypes(self, p: dict) -> dict:
        return self._list_types("activity", p, "ListActivityTypes")

    def op_ListWorkflowTypes(self, p: dict) -> dict:
        return self._list_types("workflow", p, "ListWorkflowTypes")

    def op_DeprecateActivityType(self, p: dict) -> dict:
        return self._set_type_status("activity", p, True)

    def op_DeprecateWorkflowType(self, p: dict) -> dict:
        return self._set_type_status("workflow", p, True)

    def op_UndeprecateActivityType(self, p: dict) -> dict:
        return self._set_type_status("activity", p, False)

    def op_UndeprecateWorkflowType(self, p: dict) -> dict:
        return self._set_type_status("workflow", p, False)

    def op_DeleteActivityType(self, p: dict) -> dict:
        return self._delete_type("activity", p)

    def op_DeleteWorkflowType(self, p: dict) -> dict:
        return self._delete_type("workflow", p)
