from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

# PDF renditions of version files (docflow/documents/renditions.py), one row per file.


class Migration(migrations.Migration):
    dependencies = [('docflow', '0013_search_pg')]

    initial = False

    operations = [
        ops.CreateModel(
            name='FileRendition',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('version_file', fields.OneToOneField('docflow.VersionFile', source_field='version_file_id', db_constraint=True, to_field='id', related_name='rendition', on_delete=fields.RESTRICT)),
                ('status', fields.CharField(max_length=10)),
                ('sha256', fields.CharField(null=True, max_length=64)),
                ('pages', fields.IntField(null=True)),
                ('error', fields.CharField(null=True, max_length=500)),
                ('attempts', fields.IntField(default=0)),
                ('next_attempt_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('claimed_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'file_renditions', 'app': 'docflow', 'pk_attr': 'id', 'table_description': 'The PDF rendition of a version file.'},
            bases=['Model'],
        ),
    ]
