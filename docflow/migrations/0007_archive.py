from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

IMMUTABLE = ("archive_records", "issued_files")


async def refuse_changes(apps, schema_editor) -> None:
    """Archive records and their files are written once: the database refuses the rest."""
    client = schema_editor.client
    if client.capabilities.dialect == "postgres":
        await client.execute_script(
            "CREATE FUNCTION docflow_archive_immutable() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'archive records are immutable (% on %)', TG_OP, TG_TABLE_NAME; "
            "END $$ LANGUAGE plpgsql"
        )
        for table in IMMUTABLE:
            await client.execute_script(
                f"CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION docflow_archive_immutable()"
            )
        return
    for table in IMMUTABLE:
        for op in ("UPDATE", "DELETE"):
            await client.execute_script(
                f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'archive records are immutable ({op} on {table})'); END"
            )


class Migration(migrations.Migration):
    dependencies = [('docflow', '0006_escalation_seats')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ArchiveRecord',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('document', fields.OneToOneField('docflow.Document', source_field='document_id', db_constraint=True, to_field='id', related_name='archive_record', on_delete=OnDelete.RESTRICT)),
                ('register', fields.CharField(max_length=50)),
                ('year', fields.IntField()),
                ('seq', fields.IntField()),
                ('number', fields.CharField(max_length=100)),
                ('type', fields.CharField(max_length=20)),
                ('workflow', fields.CharField(max_length=100)),
                ('title', fields.CharField(max_length=1000)),
                ('summary', fields.TextField(unique=False)),
                ('version_number', fields.IntField()),
                ('author_email', fields.CharField(max_length=320)),
                ('signer_email', fields.CharField(max_length=320)),
                ('signer_name', fields.CharField(max_length=200)),
                ('signer_capacity', fields.CharField(null=True, max_length=3)),
                ('signed_for_email', fields.CharField(null=True, max_length=320)),
                ('signed_for_name', fields.CharField(null=True, max_length=200)),
                ('issued_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('issue_date', fields.DateField()),
                ('retention', fields.CharField(max_length=20)),
                ('confidential', fields.BooleanField(default=False)),
            ],
            options={'table': 'archive_records', 'app': 'docflow', 'unique_together': (('register', 'year', 'seq'),), 'pk_attr': 'id', 'table_description': 'An issued document: its official number, date, signer and summary (trích yếu).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='IssuedFile',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('record', fields.ForeignKeyField('docflow.ArchiveRecord', source_field='record_id', db_constraint=True, to_field='id', related_name='files', on_delete=OnDelete.RESTRICT)),
                ('position', fields.IntField()),
                ('role', fields.CharField(max_length=10)),
                ('name', fields.CharField(max_length=500)),
                ('mime', fields.CharField(max_length=200)),
                ('size', fields.BigIntField()),
                ('sha256', fields.CharField(max_length=64)),
            ],
            options={'table': 'issued_files', 'app': 'docflow', 'unique_together': (('record', 'position'),), 'pk_attr': 'id', 'table_description': "A file of an issued record: the final version's files, and the stamped copy."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='LegalHold',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('record', fields.ForeignKeyField('docflow.ArchiveRecord', source_field='record_id', db_constraint=True, to_field='id', related_name='holds', on_delete=OnDelete.RESTRICT)),
                ('held', fields.BooleanField()),
                ('by', fields.CharField(max_length=320)),
                ('reason', fields.TextField(default='', unique=False)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'legal_holds', 'app': 'docflow', 'pk_attr': 'id', 'table_description': 'One change of a record legal hold, by an admin. The latest row is in force.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RegisterCounter',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('register', fields.CharField(max_length=50)),
                ('year', fields.IntField()),
                ('last_seq', fields.IntField(default=0)),
            ],
            options={'table': 'register_counters', 'app': 'docflow', 'unique_together': (('register', 'year'),), 'pk_attr': 'id', 'table_description': 'The last number given in one register in one calendar year.'},
            bases=['Model'],
        ),
        ops.RunPython(refuse_changes),
    ]
