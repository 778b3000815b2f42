"""schemas/asyncapi.yaml: valid AsyncAPI 3.0, and in step with the schema files, hub.topics and its own ACL."""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import cache
from typing import Any

import pytest
import yaml
from contract_support import ROOT, SCHEMA_DIR, is_wire_schema, schema_errors, schemas

from hub.topics import TopicKind

ASYNCAPI = SCHEMA_DIR / "asyncapi.yaml"
NODE_TOOLS = ROOT / "tools" / "node"
SAMPLE = {"dev": "D1", "game": "G1", "client": "C1"}  # the "own" ids of the principal in ACL checks


@cache
def doc() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(ASYNCAPI.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def parser_output(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One node run over our document and a deliberately broken copy (a validator that always says yes
    would pass the first alone): a dangling channel $ref and an operation without its action."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node (>= 20) is not on PATH; install Node.js to validate schemas/asyncapi.yaml")
    if not (NODE_TOOLS / "node_modules" / "@asyncapi" / "parser").is_dir():
        pytest.fail("the AsyncAPI parser is not installed; run: npm ci --prefix tools/node")
    broken_dir = tmp_path_factory.mktemp("broken")
    for name in schemas():
        (broken_dir / f"{name}.schema.json").write_text((SCHEMA_DIR / f"{name}.schema.json").read_text())
    broken = {**doc(), "operations": {"x": {"channel": {"$ref": "#/channels/nope"}}}}
    (broken_dir / "asyncapi.yaml").write_text(yaml.safe_dump(broken))
    result = subprocess.run(
        [node, str(NODE_TOOLS / "validate-asyncapi.mjs"), str(ASYNCAPI), str(broken_dir / "asyncapi.yaml")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode in {0, 1}, f"validator crashed:\n{result.stdout}{result.stderr}"
    return result.stdout


def test_document_validates_against_the_asyncapi_3_specification(parser_output: str) -> None:
    assert f"VALID: {ASYNCAPI} (AsyncAPI 3.0.0" in parser_output, parser_output


def test_the_validator_rejects_a_broken_document(parser_output: str) -> None:
    assert "INVALID: " in parser_output, parser_output
    assert f"INVALID: {ASYNCAPI} " not in parser_output


def test_channels_are_exactly_the_topic_tree() -> None:
    channels = doc()["channels"]
    assert set(channels) == {k.value for k in TopicKind}
    for kind in TopicKind:
        channel = channels[kind.value]
        assert channel["address"] == f"quizhub/{kind.rule.path}"
        params = set(re.findall(r"\{(\w+)\}", channel["address"]))
        assert set(channel.get("parameters", {})) == params, kind


def test_operation_bindings_match_retain_and_qos_of_hub_topics() -> None:
    for name, op in doc()["operations"].items():
        kind = TopicKind(op["channel"]["$ref"].rsplit("/", 1)[1])
        mqtt = op["bindings"]["mqtt"]
        assert (mqtt["qos"], mqtt["retain"]) == (kind.rule.qos, kind.rule.retained), name


def _payload_refs(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and not ref.startswith("#"):
            found.add(ref.split("#")[0].removeprefix("./"))
        for value in node.values():
            found |= _payload_refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _payload_refs(value)
    return found


def test_every_message_refers_to_an_existing_schema_and_every_schema_is_used() -> None:
    used: set[str] = set()
    for name, message in doc()["components"]["messages"].items():
        refs = _payload_refs(message["payload"])
        assert len(refs) == 1, f"message {name} should have one payload schema file"
        for ref in refs:
            assert (SCHEMA_DIR / ref).is_file(), f"message {name} refers to missing {ref}"
        used |= refs
    # Schemas reached only through other schemas (the reveal, inside state and events) count as used.
    frontier = set(used)
    while frontier:
        name = frontier.pop()
        for ref in _payload_refs(schemas()[name.removesuffix(".schema.json")]):
            if ref not in used:
                used.add(ref)
                frontier.add(ref)
    on_disk = {f"{name}.schema.json" for name in schemas() if is_wire_schema(name)}
    assert used == on_disk, f"unused schema files: {sorted(on_disk - used)}"


def test_message_examples_validate_against_their_payload_schema() -> None:
    for name, message in doc()["components"]["messages"].items():
        schema = message["payload"]["$ref"].removeprefix("./").removesuffix(".schema.json")
        assert message["examples"], f"message {name} has examples"
        for example in message["examples"]:
            assert schema_errors(schema, example["payload"]) == [], f"{name}: {example['name']}"
        # The AsyncAPI examples are the schema's own, so the two cannot drift apart.
        assert [e["payload"] for e in message["examples"]] == schemas()[schema]["examples"]


def _matches(filter_: str, topic: str) -> bool:
    f_levels, t_levels = filter_.split("/"), topic.split("/")
    for i, level in enumerate(f_levels):
        if level == "#":
            return True
        if i >= len(t_levels) or (level not in {"+", t_levels[i]}):
            return False
    return len(f_levels) == len(t_levels)


def _sample(address: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: SAMPLE[m.group(1)], address)


def _acl(role: str, action: str) -> list[str]:
    own = {"{own id}": SAMPLE["dev"], "{own client id}": SAMPLE["client"]}
    entries = doc()["x-quizhub-acl"][role]["publish" if action == "send" else "subscribe"]
    out = []
    for entry in entries:
        concrete = entry
        for placeholder, value in own.items():
            concrete = concrete.replace(placeholder, value)
        out.append(concrete)
    return out


def _operations() -> list[tuple[str, str, str]]:
    out = []
    for name, op in doc()["operations"].items():
        (role,) = [t["$ref"].rsplit("/", 1)[1] for t in op["tags"]]
        assert name.startswith(f"{role}."), name
        out.append((role, op["action"], op["channel"]["$ref"].rsplit("/", 1)[1]))
    return out


def test_every_operation_is_allowed_by_its_roles_acl() -> None:
    for role, action, channel in _operations():
        topic = _sample(doc()["channels"][channel]["address"])
        assert any(_matches(f, topic) for f in _acl(role, action)), f"{role} may not {action} {topic}"


def test_every_acl_entry_is_described_by_an_operation() -> None:
    ops = _operations()
    for role, acl in doc()["x-quizhub-acl"].items():
        if role == "service":
            continue
        # host is integrator plus its own lines: its operations include the integrator's.
        roles = {role, "integrator"} if role == "host" else {role}
        for action, entries in (("send", acl["publish"]), ("receive", acl["subscribe"])):
            for entry in _acl(role, action):
                covered = [
                    c
                    for r, a, c in ops
                    if r in roles and a == action and _matches(entry, _sample(doc()["channels"][c]["address"]))
                ]
                assert covered, f"{role} {action} {entry} has no operation"
            assert len(entries) == len(set(entries))


def test_device_acl_is_bound_to_its_own_subtree() -> None:
    other = "quizhub/devices/OTHER/buzz"
    assert not any(_matches(f, other) for f in _acl("device", "send"))
    assert not any(_matches(f, "quizhub/devices/OTHER/cmd") for f in _acl("device", "receive"))
    assert not any(_matches(f, "quizhub/games/G1/commands") for f in _acl("integrator", "send"))
    assert not any(_matches(f, "quizhub/games/G1/replies/OTHER") for f in _acl("host", "receive"))
    assert any(_matches(f, "quizhub/games/G1/commands") for f in _acl("host", "send"))
