"""JSON Schema files for teams that do not use Python. ``complaintflow schemas export`` writes them."""

from __future__ import annotations

import json
from pathlib import Path

from schemas.models import ALL_MODELS

SCHEMA_DIR = Path(__file__).resolve().parent


def json_schema_files() -> dict[str, str]:
    """File name → JSON text, exactly as they should stand in ``schemas/``."""
    files = {}
    for name, model in ALL_MODELS.items():
        schema = model.model_json_schema(mode="serialization")
        schema["$id"] = f"https://complaintflow.local/schemas/{name}.v1.json"
        files[f"{name}.schema.json"] = json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    return files


def export_json_schemas(directory: Path = SCHEMA_DIR) -> list[Path]:
    written = []
    for filename, text in json_schema_files().items():
        path = directory / filename
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
