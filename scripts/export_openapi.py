"""Write the API's OpenAPI document to a file (``make client`` generates a client from it).

The document is built in-process from the same app factory the server uses (its
routes and schemas), so no server, database or login is needed.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv: list[str]) -> int:
    """``export_openapi.py OUT.json``: write the document there."""
    if len(argv) != 2:
        print("usage: export_openapi.py OUT.json", file=sys.stderr)
        return 2
    from lts import create_app
    from lts.blueprints.api import openapi_document

    with tempfile.TemporaryDirectory(prefix="lts-openapi-") as tmp:
        app = create_app({"database_url": f"sqlite:///{tmp}/doc.db", "loop_enabled": False,
                          "secret_key": "export-openapi-only", "log_level": "WARNING"},
                         instance_path=Path(tmp) / "instance")
        with app.app_context():
            document = openapi_document()
    out = Path(argv[1])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
