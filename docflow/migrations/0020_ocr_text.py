from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

# OCR: text read from scans marked on the version file (issue 15), and the OCR of each
# scanned PDF or image (docflow/documents/ocr.py), one row per file.


class Migration(migrations.Migration):
    dependencies = [('docflow', '0019_reply_tokens')]

    initial = False

    operations = [
        ops.AddField(
            model_name='VersionFile',
            name='text_source',
            field=fields.CharField(null=True, max_length=10),
        ),
        ops.CreateModel(
            name='FileOcr',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('version_file', fields.OneToOneField('docflow.VersionFile', source_field='version_file_id', db_constraint=True, to_field='id', related_name='ocr', on_delete=fields.RESTRICT)),
                ('status', fields.CharField(max_length=10)),
                ('pages', fields.IntField(null=True)),
                ('pages_read', fields.IntField(default=0)),
                ('cut', fields.BooleanField(default=False)),
                ('seconds', fields.FloatField(null=True)),
                ('error', fields.CharField(null=True, max_length=500)),
                ('attempts', fields.IntField(default=0)),
                ('next_attempt_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('claimed_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'file_ocr', 'app': 'docflow', 'pk_attr': 'id', 'table_description': 'The OCR of a version file.'},
            bases=['Model'],
        ),
    ]
