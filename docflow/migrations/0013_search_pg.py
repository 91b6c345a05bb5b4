from tortoise import migrations
from tortoise.migrations import operations as ops

# PostgreSQL: the full tsvector `tsv` moves out of the wide search_entries into a narrow
# table search_terms (sort_key, tsv) with the GIN index, as search_heads did for the head:
# walking the newest matches then reads few pages instead of the wide rows (title,
# summary, body). Existing rows are moved, and search_entries rewritten without the old
# column. SQLite (FTS5 tables of their own): nothing.
PG = [
    "CREATE TABLE search_terms (sort_key BIGINT PRIMARY KEY REFERENCES search_entries (sort_key)"
    " ON DELETE CASCADE ON UPDATE CASCADE, tsv tsvector NOT NULL)",
    "INSERT INTO search_terms (sort_key, tsv) SELECT sort_key, tsv FROM search_entries",
    "CREATE INDEX search_terms_tsv ON search_terms USING gin (tsv)",
    "DROP INDEX IF EXISTS search_entries_tsv",
    "ALTER TABLE search_entries DROP COLUMN tsv",
    # a dropped column keeps its space (here the tsvectors' TOAST, ~1 GB per 100,000
    # documents) until the table is rewritten; unlike VACUUM FULL, CLUSTER may run in
    # the migration's transaction (10 s per 100,000 documents)
    "CLUSTER search_entries USING search_entries_sort_key_key",
    "ANALYZE search_entries, search_terms",
]
PG_BACK = [
    "ALTER TABLE search_entries ADD COLUMN tsv tsvector NOT NULL DEFAULT ''::tsvector",
    "UPDATE search_entries e SET tsv = t.tsv FROM search_terms t WHERE t.sort_key = e.sort_key",
    "CREATE INDEX search_entries_tsv ON search_entries USING gin (tsv)",
    "DROP TABLE search_terms",
]


async def narrow_terms(apps, schema_editor) -> None:
    client = schema_editor.client
    if client.capabilities.dialect != "sqlite":
        for sql in PG:
            await client.execute_script(sql)


async def wide_terms(apps, schema_editor) -> None:
    client = schema_editor.client
    if client.capabilities.dialect != "sqlite":
        for sql in PG_BACK:
            await client.execute_script(sql)


class Migration(migrations.Migration):
    dependencies = [('docflow', '0012_imap')]

    initial = False

    operations = [
        ops.RunPython(narrow_terms, wide_terms),
    ]
