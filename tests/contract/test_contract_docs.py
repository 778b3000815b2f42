"""docs/wire.md stays true: its JSON examples validate, its topic table matches hub.topics, its Python runs."""

from __future__ import annotations

import json
import re

from contract_support import MODEL_FOR_SCHEMA, ROOT, schema_errors

from hub.codec import decode
from hub.topics import TopicKind

WIRE_MD = ROOT / "docs" / "wire.md"
FENCE = re.compile(r"(?:<!-- schema: (?P<schema>[a-z-]+) -->\n)?```(?P<lang>\w*)\n(?P<body>.*?)```", re.DOTALL)


def blocks() -> list[tuple[str | None, str, str]]:
    text = WIRE_MD.read_text(encoding="utf-8")
    return [(m["schema"], m["lang"], m["body"]) for m in FENCE.finditer(text)]


def test_every_json_example_names_its_schema_and_validates() -> None:
    seen = set()
    for schema, lang, body in blocks():
        if lang != "json":
            continue
        assert schema is not None, f"put <!-- schema: NAME --> above this example:\n{body}"
        document = json.loads(body)
        assert schema_errors(schema, document) == [], f"docs/wire.md example for {schema}:\n{body}"
        decode(MODEL_FOR_SCHEMA[schema], json.dumps(document).encode(), max_size=1 << 16)
        seen.add(schema)
    assert seen == set(MODEL_FOR_SCHEMA), f"schemas without an example in wire.md: {set(MODEL_FOR_SCHEMA) - seen}"


def test_topic_table_matches_hub_topics() -> None:
    rows = re.findall(r"^\| `quizhub/([^`]+)` \| [^|]+ \| (yes|no) \| ([01]) \|", WIRE_MD.read_text(), re.MULTILINE)
    table = {path: (retained == "yes", int(qos)) for path, retained, qos in rows}
    assert table == {k.rule.path: (k.rule.retained, k.rule.qos) for k in TopicKind}


def test_python_example_runs(capsys) -> None:
    (code,) = [body for _, lang, body in blocks() if lang == "python"]
    exec(compile(code, str(WIRE_MD), "exec"), {})  # our own documentation
    assert capsys.readouterr().out == "", "the example's happy path prints nothing"
