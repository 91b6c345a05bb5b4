from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

# The engine-specific full-text indexes beside search_entries (see docflow/archive/search.py
# and backend.py). docflow feeds both ready-made tokens.
# SQLite: two contentless FTS5 tables whose rowid is search_entries.sort_key: search_fts
# (exact and folded columns of every field, and the filter tokens) and search_head
# (title, summary, meta exact and folded, the filter tokens): the ranked candidates.
# PostgreSQL: a tsvector column tsv (folded lexemes, exact ones prefixed with "=", folded
# word pairs "a~b", filter tokens prefixed with "#") with a GIN index, and a narrow table
# search_heads (sort_key, head_tsv: the same for title, summary, meta) with its own GIN
# index: kept apart from the wide rows so that walking it reads few pages.
TOKENIZE = "tokenize=\"unicode61 remove_diacritics 0 categories 'L* N* Co M*'\""
FTS5 = [
    "CREATE VIRTUAL TABLE search_fts USING fts5("
    "title, summary, meta, body, title_f, summary_f, meta_f, body_f, tags, content='', "
    f"{TOKENIZE})",
    "CREATE VIRTUAL TABLE search_head USING fts5("
    f"title, summary, meta, title_f, summary_f, meta_f, tags, content='', {TOKENIZE})",
]
PG = [
    "ALTER TABLE search_entries ADD COLUMN tsv tsvector NOT NULL DEFAULT ''::tsvector",
    "CREATE INDEX search_entries_tsv ON search_entries USING gin (tsv)",
    "CREATE TABLE search_heads (sort_key BIGINT PRIMARY KEY REFERENCES search_entries (sort_key)"
    " ON DELETE CASCADE ON UPDATE CASCADE, head_tsv tsvector NOT NULL)",
    "CREATE INDEX search_heads_tsv ON search_heads USING gin (head_tsv)",
]


async def engine_index(apps, schema_editor) -> None:
    client = schema_editor.client
    for sql in FTS5 if client.capabilities.dialect == "sqlite" else PG:
        await client.execute_script(sql)


async def drop_engine_index(apps, schema_editor) -> None:
    client = schema_editor.client
    if client.capabilities.dialect == "sqlite":
        await client.execute_script("DROP TABLE IF EXISTS search_fts")
        await client.execute_script("DROP TABLE IF EXISTS search_head")
    else:
        await client.execute_script("DROP TABLE IF EXISTS search_heads")
        await client.execute_script("DROP INDEX IF EXISTS search_entries_tsv")
        await client.execute_script("ALTER TABLE search_entries DROP COLUMN IF EXISTS tsv")

class Migration(migrations.Migration):
    dependencies = [('docflow', '0008_accounts')]

    initial = False

    operations = [
        ops.CreateModel(
            name='SearchEntry',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('record_id', fields.IntField(unique=True)),
                ('sort_key', fields.BigIntField(unique=True)),
                ('number', fields.CharField(db_index=True, max_length=100)),
                ('type', fields.CharField(db_index=True, max_length=20)),
                ('register', fields.CharField(db_index=True, max_length=20)),
                ('signer', fields.CharField(max_length=200)),
                ('signer_key', fields.CharField(db_index=True, max_length=200)),
                ('issued_on', fields.DateField()),
                ('year', fields.IntField()),
                ('title', fields.TextField(unique=False)),
                ('summary', fields.TextField(default='', unique=False)),
                ('body', fields.TextField(default='', unique=False)),
            ],
            options={'table': 'search_entries', 'app': 'docflow', 'pk_attr': 'id', 'table_description': 'An issued document as search sees it (the engine index lives beside it).'},
            bases=['Model'],
        ),
        ops.RunPython(engine_index, drop_engine_index),
    ]
