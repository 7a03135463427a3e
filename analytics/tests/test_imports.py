"""What analytics may import: of purchases/ only the stdlib-only event module; no Django."""
import ast
from pathlib import Path

ANALYTICS = Path(__file__).resolve().parent.parent
ALLOWED_FROM_PURCHASES = {"purchases.events"}
# Django, and the libraries that import pieces of it (kombu's JSON module does when Django is
# installed; Celery is built on kombu).
FORBIDDEN = {"django", "kombu", "celery"}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in a file, at any depth (a lazy import counts too)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
            # "from purchases import tasks" imports purchases.tasks.
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names
                      if node.module == "purchases"]
    return found


def analytics_modules() -> list[Path]:
    modules = sorted(ANALYTICS.glob("*.py"))
    assert ANALYTICS / "stream.py" in modules
    return modules


def test_analytics_imports_nothing_of_purchases_but_its_event_module():
    wrong = [f"{path.name}:{line} imports {module}" for path in analytics_modules()
             for line, module in imported_modules(path)
             if module.startswith("purchases.") and module not in ALLOWED_FROM_PURCHASES]
    assert wrong == []


def test_analytics_imports_no_django_kombu_or_celery():
    wrong = [f"{path.name}:{line} imports {module}" for path in analytics_modules()
             for line, module in imported_modules(path)
             if module.split(".")[0] in FORBIDDEN]
    assert wrong == []


def test_the_scan_sees_every_form_of_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import purchases.broker.topology\nfrom purchases import tasks\n"
                      "from purchases.events import EXCHANGE\n"
                      "def later():\n    from kombu import Connection\n")
    modules = {module for _, module in imported_modules(sample)}
    assert {"purchases.broker.topology", "purchases.tasks", "purchases.events", "kombu"} <= modules
