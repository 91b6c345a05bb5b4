from tortoise import migrations
from tortoise.migrations import operations as ops

# The web app's lists at scale (scripts/bench_pages.py: 100,000 documents): an author's
# documents, an approver's tasks, a document's tasks and audit trail. Plain SQL that both
# SQLite and PostgreSQL read the same way.

INDEXES = [
    ("idx_documents_author", "documents (author_id, id)"),
    ("idx_tasks_assignee_state", "tasks (assignee_id, state)"),
    ("idx_tasks_document", "tasks (document_id, version_number)"),
    ("idx_audit_events_document", "audit_events (document_id, id)"),
]


class Migration(migrations.Migration):
    dependencies = [('docflow', '0017_seen_versions')]

    initial = False

    operations = [
        ops.RunSQL(
            [f"CREATE INDEX IF NOT EXISTS {name} ON {on}" for name, on in INDEXES],
            reverse_sql=[f"DROP INDEX IF EXISTS {name}" for name, _ in INDEXES],
        ),
    ]
