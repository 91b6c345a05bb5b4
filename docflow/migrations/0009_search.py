from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

# The engine-specific full-text index beside search_entries (see docflow/archive/search.py).
# SQLite: a contentless FTS5 table whose rowid is search_entries.sort_key, with the exact
# (diacritics kept) and folded columns, fed ready-made tokens by docflow.
# PostgreSQL: a tsvector column (folded lexemes, and exact ones prefixed with "=") and a
# GIN index on it.
FTS5 = (
    "CREATE VIRTUAL TABLE search_fts USING fts5("
    "title, summary, meta, body, title_f, summary_f, meta_f, body_f, content='', "
    "tokenize=\"unicode61 remove_diacritics 0 categories 'L* N* Co M*'\")"
)
PG = [
    "ALTER TABLE search_entries ADD COLUMN tsv tsvector NOT NULL DEFAULT ''::tsvector",
    "CREATE INDEX search_entries_tsv ON search_entries USING gin (tsv)",
]


async def engine_index(apps, schema_editor) -> None:
    client = schema_editor.client
    if client.capabilities.dialect == "sqlite":
        await client.execute_script(FTS5)
    else:
        for sql in PG:
            await client.execute_script(sql)


async def drop_engine_index(apps, schema_editor) -> None:
    client = schema_editor.client
    if client.capabilities.dialect == "sqlite":
        await client.execute_script("DROP TABLE IF EXISTS search_fts")
    else:
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
